package pyshim

import org.apache.spark.sql.SparkSession
import org.json4s._
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, parse, render}

/**
 * The Scala API, for scripts and loops:
 * {{{
 *   pyshim.Models.register("wine", "models:/wine@champion")
 *   pyshim.Models.register("wine", "runs:/<id>/model", resultType = "double")
 *   pyshim.Models.register("wine", "models:/wine/3", native = "require")   // Spark SQL or fail
 * }}}
 */
object Models {
  private implicit val formats: Formats = DefaultFormats

  def register(name: String, modelUri: String, resultType: String = null,
               envManager: String = "local", native: String = "auto"): String = {
    val out = Console.out
    register(activeSession(), name, modelUri, Option(resultType), envManager,
      Sinks.streams(out, Console.err), line => out.println(line), native)
  }

  /** `native`: "auto" (Spark SQL when the model compiles and checks out, else Python), "require" or "off". */
  def register(spark: SparkSession, name: String, modelUri: String, resultType: Option[String],
               envManager: String, sink: OutputSink, notice: String => Unit, native: String): String = {
    val payload = compact(render(("name" -> name) ~ ("uri" -> modelUri) ~
      ("result_type" -> resultType) ~ ("env_manager" -> envManager) ~ ("native" -> native)))
    val answer = Replies.parseOk(Sidecar.call(spark, "register", payload, sink, notice))
    Sidecar.remember(name, payload)
    (answer \ "summary").extract[String]
  }

  /** Names of the model functions registered in this kernel. */
  def list(): Seq[String] = Sidecar.registeredNames

  def activeSession(): SparkSession =
    SparkSession.getActiveSession.orElse(SparkSession.getDefaultSession)
      .getOrElse(SparkSession.builder().getOrCreate())
}

/** Python code from Scala: `pyshim.PythonCode.run("print(1)")`. */
object PythonCode {
  def run(code: String): String = {
    val out = Console.out
    val answer = Replies.parseOk(Sidecar.call(Models.activeSession(), "exec", code,
      Sinks.streams(out, Console.err), line => out.println(line)))
    Replies.textOf(answer)
  }
}

object Replies {
  private implicit val formats: Formats = DefaultFormats

  /** The sidecar answers {"status": "ok", ...} or {"status": "error", "ename", "evalue", "traceback"}. */
  def parseOk(json: String): JValue = {
    val answer = parse(json)
    if ((answer \ "status").extract[String] != "ok") throw PythonError.from(answer)
    answer
  }

  def textOf(answer: JValue): String = (answer \ "data" \ "text/plain").extractOpt[String].getOrElse("")

  /** A MIME bundle as Toree carries it: strings (JSON types such as application/json as JSON text). */
  def mimeBundle(answer: JValue): Seq[(String, String)] = answer \ "data" match {
    case JObject(fields) => fields.collect {
      case (mime, JString(value)) => mime -> value
      case (mime, value) if value != JNothing && value != JNull => mime -> compact(render(value))
    }
    case _ => Seq.empty
  }

  /** The phase a %register_model is in ({"phase": "compile"}, see pyshim/phases.py). */
  def phaseOf(content: String): String = (parse(content) \ "phase").extractOpt[String].getOrElse("")

  /** The text/plain of a display message's content, if it has one. */
  def plainText(content: String): Option[String] =
    (parse(content) \ "data" \ "text/plain").extractOpt[String]
}

/** A Python exception, carried with its short Python traceback and no JVM stack. */
class PythonError(val ename: String, val evalue: String, val traceback: String)
  extends PyshimException(if (traceback.nonEmpty) traceback else s"$ename: $evalue")

object PythonError {
  private implicit val formats: Formats = DefaultFormats
  def from(answer: JValue): PythonError = new PythonError(
    (answer \ "ename").extractOpt[String].getOrElse("Error"),
    (answer \ "evalue").extractOpt[String].getOrElse(""),
    (answer \ "traceback").extractOpt[String].getOrElse(""))
}
