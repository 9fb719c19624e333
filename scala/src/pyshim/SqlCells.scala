package pyshim

import java.io.ByteArrayOutputStream

import org.apache.spark.sql.SparkSession

/** A `%%sql` cell's value in both Scala kernels: the first rows as text, as Toree shows them. */
object SqlCells {
  val Rows = 10 // as Toree's SqlService

  def show(spark: SparkSession, query: String): String = {
    val frame = spark.sql(query.trim)
    val text = new ByteArrayOutputStream()
    Console.withOut(text) { frame.show(Rows) }
    text.toString("UTF-8")
  }
}
