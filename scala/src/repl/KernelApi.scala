package pyshim.repl

import java.io.PrintStream

import org.apache.spark.SparkContext
import org.apache.spark.sql.SparkSession
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, render}

import pyshim.CellOutput

/**
 * `kernel` in pyshim's own Scala kernel: the part of Toree's kernel API that notebooks use,
 * so a Toree notebook runs unchanged (kernel.display.html(...), kernel.out.println(...),
 * kernel.sparkSession).
 */
object KernelApi {
  @volatile private[repl] var session: SparkSession = _

  def sparkSession: SparkSession = session
  def sparkContext: SparkContext = session.sparkContext

  /** The running cell's stdout and stderr (Toree's kernel.out / kernel.err). */
  def out: PrintStream = CellOutput.current.map(_.printStreams._1).getOrElse(CellOutput.logOut)
  def err: PrintStream = CellOutput.current.map(_.printStreams._2).getOrElse(CellOutput.logErr)

  object display {
    def content(mimeType: String, data: String): Unit = send(Map(mimeType -> data))
    def html(data: String): Unit = content("text/html", data)
    def javascript(data: String): Unit = content("application/javascript", data)
    def markdown(data: String): Unit = content("text/markdown", data)
    def clear(wait: Boolean = false): Unit =
      CellOutput.current.foreach(_.sendMessage("clear_output", compact(render("wait" -> wait))))
  }

  /** A display message of the running cell, after the text printed so far. */
  def send(data: Map[String, String]): Unit = CellOutput.current.foreach { cell =>
    out.flush()
    cell.flush()
    cell.sendMessage("display_data", compact(render(("data" -> data) ~ ("metadata" -> Map.empty[String, String]))))
  }

  /** Toree's %Truncation and %ShowTypes (both kernels' magics set them). */
  @volatile var truncation = true
  @volatile var showTypes = false
  @volatile var showOutput = true
  val TruncateAt = 2500

  /** A cell's value as Toree shows it: its toString, cut at Toree's length unless %Truncation off. */
  def show(value: Any): String = {
    val text = String.valueOf(value)
    if (truncation && text.length > TruncateAt) text.take(TruncateAt) + "..." else text
  }
}
