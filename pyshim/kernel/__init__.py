"""Making and starting the kernels: specs, the Toree launcher, the extension build, install and doctor."""
