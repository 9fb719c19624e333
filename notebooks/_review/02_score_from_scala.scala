// Review copy of 02_score_from_scala.ipynb, written by pyshim_hooks. Edit the notebook, not this file.

// -*- coding: utf-8 -*-
// %% [markdown]
// # 2 · Score from Scala: an MLflow model as a Spark SQL function
//
// The model trained in Python ([01_train_model.ipynb](01_train_model.ipynb)) scores a Spark
// DataFrame in a Scala notebook on Toree, through `spark.sql` and `call_udf` (`callUDF`),
// without leaving Scala. The model runs in Spark's Python workers; Scala only sees a SQL function.
//
// - `%load setup` runs [snippets/setup.scala](snippets/setup.scala): imports, the MLflow store,
//   the output folder and a `timed` helper
// - `%register_model NAME MODEL_URI` (or `pyshim.Models.register` from Scala code) makes the
//   model the SQL function `NAME`
// - `%%python` cells run in a Python process that shares this notebook's `spark` (and `z`)

// %%
// %load setup

// %% [markdown]
// ## Parameters
//
// The input, the output and the model. A job changes them without editing the notebook:
// `pyshim run notebooks/02_score_from_scala.ipynb -r output_path /data/scored.parquet -r model_uri models:/wine_classifier/3`
// (papermill) runs it with a cell of new values after this one, which is tagged `parameters`.

// %%
val input_path = ""   // Parquet with the columns of `wines` below; empty: the wine data from scikit-learn, 562 copies
val output_path = s"$outputDir/wine_scored_scala.parquet"
val model_uri = "models:/wine_classifier@champion"

// %% [markdown]
// ## Register the model as a SQL function
//
// `models:/wine_classifier@champion` is whichever version the alias points at now. The
// function's inputs and result type come from the model's signature. `pyshim.Models.register`
// does what `%register_model wine models:/wine_classifier@champion` does, with the URI of a parameter.

// %%
println(pyshim.Models.register("wine", model_uri))

// %% [markdown]
// ## The data: from Python, shared through the SparkSession
//
// scikit-learn ships the wine data; a `%%python` cell makes it a temporary view that Scala
// reads. 178 wines, repeated to about 100,000 rows so that scoring means something; or, when
// `input_path` names a Parquet file or folder with the same columns, the rows there.

// %% language="python"
// from sklearn.datasets import load_wine
//
// wine = load_wine(as_frame=True).frame.rename(columns=lambda name: name.replace('/', '_'))
// wine.insert(0, 'wine_id', range(len(wine)))
// spark.createDataFrame(wine).createOrReplaceTempView('wine_sample')
// print(f'{len(wine)} wines in the temporary view wine_sample')

// %%
val copies = 562  // 178 wines x 562 = 100,036 rows
val sample = spark.table("wine_sample")
val featureColumns: Seq[String] = sample.columns.filterNot(Set("wine_id", "target")).toSeq
val input = if (input_path.isEmpty) sample.crossJoin(spark.range(copies).withColumnRenamed("id", "copy"))
            else spark.read.parquet(input_path)
val wines = input.cache()
wines.createOrReplaceTempView("wines")
println(s"${wines.count()} rows to score; ${featureColumns.size} features: ${featureColumns.mkString(", ")}")

// %% [markdown]
// ## Score with SQL: errors per class
//
// `wine(...)` takes the columns in the order of the model's signature. A call with the
// wrong number or type of columns fails when the query is analysed, before any job runs.

// %%
val errorsByClass = spark.sql(s"""
  SELECT target AS class, count(*) AS wines,
         sum(CASE WHEN wine(${featureColumns.mkString(", ")}) = target THEN 0 ELSE 1 END) AS misclassified
  FROM wines GROUP BY target ORDER BY target""").cache()
timed("SQL scoring") { errorsByClass.count() }   // runs the query; its 3 rows stay cached
errorsByClass.show()

// %% [markdown]
// ## Score with `call_udf` and write Parquet
//
// The same function from the DataFrame API: `call_udf` is the name of `callUDF` since
// Spark 3.2 (the old name still works, with a deprecation warning). The Parquet folder is
// `output_path` (by default under `PYSHIM_OUTPUT_DIR`, `.pyshim/output` in the project).

// %%
val scored = wines.withColumn("predicted", call_udf("wine", featureColumns.map(col): _*))
val scoredPath = output_path
timed("call_udf scoring and Parquet write") {
  scored.select("wine_id", "copy", "target", "predicted").write.mode("overwrite").parquet(scoredPath)
}

// %% [markdown]
// ## Compare predicted and actual classes
//
// Read back from Parquet: rows are not scored again.

// %%
val result = spark.read.parquet(scoredPath)
val rowsScored = result.count()
val accuracy = result.agg(avg(when(col("predicted") === col("target"), 1.0).otherwise(0.0))).first.getDouble(0)
val sqlErrors = errorsByClass.agg(sum("misclassified")).first.getLong(0)
val udfErrors = result.filter(col("predicted") =!= col("target")).count()
println(s"confusion matrix (rows: actual class, columns: predicted class):")
result.groupBy(col("target").as("class")).pivot("predicted", Seq(0, 1, 2)).count().na.fill(0).orderBy("class").show()
println(s"misclassified: $udfErrors with call_udf, $sqlErrors with spark.sql")
z.put("scored", result)   // for the plot below, drawn in Python

// %% [markdown]
// ## Plot it in Python
//
// A `%%python` cell is an IPython cell: `z.get` hands it the Scala DataFrame `result` as a
// PySpark DataFrame over the same JVM Dataset (no copy), and a matplotlib figure shows inline.

// %% language="python"
// import matplotlib.pyplot as plt
// import numpy as np
//
// counts = z.get("scored").groupBy("target", "predicted").count().toPandas()
// matrix = counts.pivot(index="target", columns="predicted", values="count").fillna(0).astype(int)
// values = matrix.to_numpy()
// fig, ax = plt.subplots(figsize=(4.5, 3.5))
// ax.imshow(values, cmap="Blues")
// for (row, column), n in np.ndenumerate(values):
//     ax.text(column, row, f"{n:,}", ha="center", va="center", color="white" if n > values.max() / 2 else "black")
// ax.set(xticks=range(len(matrix.columns)), xticklabels=matrix.columns, xlabel="predicted class",
//        yticks=range(len(matrix.index)), yticklabels=matrix.index, ylabel="actual class",
//        title="Confusion matrix of wine() from Scala")
// print(f"{values.sum():,} rows in the confusion matrix")

// %% [markdown]
// ## Summary

// %%
println(s"rows scored: $rowsScored")
println(f"accuracy: $accuracy%.4f")
println(s"parquet: $scoredPath")
z.put("rows_scored", rowsScored)   // for %%python cells
Seq(("model", model_uri), ("rows scored", f"$rowsScored%,d"),
    ("accuracy", f"$accuracy%.4f"), ("misclassified", udfErrors.toString), ("parquet", scoredPath))
  .toDF("item", "value").show(truncate = false)

// %% [markdown]
// ## The same model in real time
//
// The model scored here in batch also answers over REST, with no re-engineering: `make serve`
// (in a terminal, from the project folder) runs MLflow's own scoring server for
// `models:/wine_classifier@champion` on `http://127.0.0.1:5001`. Post rows in the
// `dataframe_split` format; each answer equals the prediction written to the Parquet above
// (the tests check every wine):
//
// ```bash
// curl -s http://127.0.0.1:5001/invocations -H 'Content-Type: application/json' -d '{
//   "dataframe_split": {
//     "columns": ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
//                 "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
//                 "od280_od315_of_diluted_wines", "proline"],
//     "data": [[14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0]]}}'
// ```
//
// Next: [03_pyspark_pipeline.ipynb](03_pyspark_pipeline.ipynb) scores in PySpark with a Spark ML
// feature pipeline in front of a Python classifier.
