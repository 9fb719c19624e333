// pyshim set-up for Scala notebooks (kernel pyshim-scala: Toree on Spark 3.5, pyshim's on Spark 4).
// `%load setup` runs this file in the interpreter (so does `%load snippets/setup.scala`);
// everything defined here stays defined in the notebook.
//
// Defaults are embedded (pyshim/defaults.py); the environment overrides them:
//   MLFLOW_TRACKING_URI  default sqlite:///<repo>/.pyshim/mlflow.db (artifacts in .pyshim/artifacts)
//   PYSHIM_OUTPUT_DIR    default <repo>/.pyshim/output (Parquet written by the notebooks)
//   SPARK_OPTS           spark-submit options of the kernel, default local[*]
import org.apache.spark.sql.{Column, DataFrame}
import org.apache.spark.sql.functions._
import pyshim.z

// The kernel's Python (what runs %%python and %register_model) is pointed at the project's
// MLflow store; it hands the settings back to Scala through z.
pyshim.PythonCode.run(
  "from pyshim import defaults\n" +
  "z.put('mlflow_tracking_uri', defaults.use_mlflow())\n" +
  "z.put('output_dir', str(defaults.output_dir()))")
val mlflowTrackingUri: String = z.get("mlflow_tracking_uri").toString
val outputDir: String = z.get("output_dir").toString

/** Run `body`, print how long it took, and return its value: `timed("scoring") { df.count() }`. */
def timed[T](label: String)(body: => T): T = {
  val start = System.nanoTime()
  val result = body
  println(f"$label: ${(System.nanoTime() - start) / 1e9}%.1f s")
  result
}

println(s"Spark ${spark.version} (${spark.sparkContext.master}), " +
  s"Scala ${scala.util.Properties.versionNumberString}, pyshim ${pyshim.Version.value}")
println(s"MLflow tracking URI: $mlflowTrackingUri")
println(s"output folder: $outputDir")
