# Review copy of 01_train_model.ipynb, written by pyshim_hooks. Edit the notebook, not this file.

# %% [markdown]
# # 1 · Train a wine classifier and track it in MLflow
#
# The first step of the demo, in plain Python: train a scikit-learn model on the wine data
# that ships with scikit-learn (178 wines, 13 measurements, 3 cultivars; nothing is
# downloaded), log its parameters, metrics and the model (with a signature and an input
# example) to MLflow, register it as `wine_classifier` and point the alias `champion` at
# the new version.
#
# The next notebook scores with it from Scala: `%register_model wine models:/wine_classifier@champion`.
#
# **Where things go.** MLflow uses `MLFLOW_TRACKING_URI` when it is set, else the project's
# embedded store `sqlite:///<repo>/.pyshim/mlflow.db`, with artifacts in `.pyshim/artifacts`
# (git-ignored). No server to start.

# %%
import mlflow
import sklearn
from mlflow.models import infer_signature
from pyshim import defaults

tracking_uri = defaults.use_mlflow()   # MLFLOW_TRACKING_URI, or the embedded store; experiment "pyshim-demo"
print(f"MLflow {mlflow.__version__}, tracking URI: {tracking_uri}")

# %% [markdown]
# ## The data
#
# Column names become the model's input names (its signature), and Spark SQL calls the
# model with columns of those names, so the one name with a `/` in it is made SQL-friendly.

# %%
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

wine = load_wine(as_frame=True)
features = wine.data.rename(columns=lambda name: name.replace("/", "_"))
target = wine.target
X_train, X_test, y_train, y_test = train_test_split(
    features, target, test_size=0.25, stratify=target, random_state=42)
print(f"{len(features)} wines, {features.shape[1]} features, classes {sorted(target.unique().tolist())}; "
      f"train {len(X_train)}, test {len(X_test)}")
features.head(3)

# %% [markdown]
# ## Train, log and register
#
# A scaler and a logistic regression in one scikit-learn pipeline, so the model takes raw
# measurements. `registered_model_name` creates the next version of `wine_classifier`
# in the model registry.

# %%
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

MODEL_NAME, ALIAS = "wine_classifier", "champion"
params = {"C": 1.0, "max_iter": 1000}

with mlflow.start_run(run_name="wine-logreg") as run:
    mlflow.log_params(params)
    model = make_pipeline(StandardScaler(), LogisticRegression(**params)).fit(X_train, y_train)
    predicted = model.predict(X_test)
    metrics = {"accuracy": accuracy_score(y_test, predicted),
               "f1_macro": f1_score(y_test, predicted, average="macro")}
    mlflow.log_metrics(metrics)
    info = mlflow.sklearn.log_model(
        model, name="model",
        signature=infer_signature(X_train, model.predict(X_train)),
        input_example=X_train.head(3),
        # Naming the requirements skips MLflow's inference, which loads the model in a
        # separate Python to see what it imports (half a minute on a small laptop).
        pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        registered_model_name=MODEL_NAME)

print(f"run {run.info.run_id}: accuracy {metrics['accuracy']:.3f}, f1_macro {metrics['f1_macro']:.3f}")
print(f"logged model {info.model_uri}")

# %% [markdown]
# ## Point the alias at the new version
#
# Notebooks refer to `models:/wine_classifier@champion`, never to a version number: moving
# the alias changes which model every notebook scores with.

# %%
client = mlflow.MlflowClient()
version = info.registered_model_version
client.set_registered_model_alias(MODEL_NAME, ALIAS, version)
champion = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
print(f"registered {MODEL_NAME} version {champion.version} as models:/{MODEL_NAME}@{ALIAS}")
print(f"signature inputs: {', '.join(info.signature.inputs.input_names())}")

# %% [markdown]
# ## Check: load it back as a pyfunc
#
# This is the generic interface (`mlflow.pyfunc`) that pyshim calls inside Spark.

# %%
loaded = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{ALIAS}")
check = X_test.head(5).assign(predicted=loaded.predict(X_test.head(5)), actual=y_test.head(5))
check[["alcohol", "proline", "predicted", "actual"]]

# %% [markdown]
# Next: [02_score_from_scala.ipynb](02_score_from_scala.ipynb) scores this model from Scala.
