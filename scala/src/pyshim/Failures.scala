package pyshim

import java.io.{File, FileOutputStream, OutputStreamWriter}
import java.nio.charset.StandardCharsets.UTF_8
import java.time.Instant

import scala.util.Try

/** A short cell error: ename, a one-line evalue, and the few lines a notebook shows. */
final case class ShortFailure(ename: String, evalue: String, lines: List[String])

/**
 * Run-time failures inside a model or a Python UDF, told in a few lines. The model
 * functions' worker (pyshim.bridge.worker) raises pyshim.bridge.failures.ModelCallError
 * with one line: `NAME (URI; RESOLVED) raised TYPE: MESSAGE[ | first failing row: ROW]`.
 * pyshim/bridge/failures.py reads the same line for %%python and plain PySpark; keep the
 * two in step. Any other Python UDF is told by its last traceback frame and exception.
 * The full text goes to a log file that the message names.
 */
object Failures {
  private val ModelLine =
    """(?m)ModelCallError: (\w+) \((.*?); (.*?)\) raised ([\w.]+)(?:: (.*?))?(?: \| first failing row: (.*))?$""".r
  private val Frame = """^\s+File "(.*)", line \d+, in (.+)$""".r
  private val ExceptionLine = """^([A-Za-z_][\w.]*)(?:: (.*))?$""".r

  lazy val logFile: File = new File(System.getProperty("java.io.tmpdir"),
    s"pyshim-errors-${ProcessHandle.current().pid()}.log")

  /** The short form of a failure's full text, or None when no Python code failed in it. */
  def short(text: String): Option[ShortFailure] = {
    val found = modelFailure(text).orElse(udfFailure(text))
    found.map { f =>
      val where = Try { log(text); s"  full error: ${logFile.getPath}" }.getOrElse("  full error: in the kernel's log")
      f.copy(lines = f.lines :+ where)
    }
  }

  private def modelFailure(text: String): Option[ShortFailure] =
    ModelLine.findAllMatchIn(text).toList.lastOption.map { m =>
      val (name, uri, resolved, etype) = (m.group(1), m.group(2), m.group(3), m.group(4))
      val message = Option(m.group(5)).map(v => s"$etype: $v").getOrElse(etype)
      val first = s"$name failed: $message"
      ShortFailure(etype, first, List(first, s"  model: $uri ($resolved)") ++
        Option(m.group(6)).map(row => s"  first failing row: ${clip(row)}"))
    }

  private def udfFailure(text: String): Option[ShortFailure] = {
    val at = text.lastIndexOf("Traceback (most recent call last):")
    if (at < 0 || !text.contains("PythonException")) return None
    val lines = text.substring(at).split("\n").toList.drop(1)
      .takeWhile(l => !l.startsWith("\t") && !l.startsWith("Driver stacktrace"))
    val function = lines.collect { case Frame(_, fn) => fn.trim }.lastOption.getOrElse("?")
    lines.reverse.collectFirst { case l @ ExceptionLine(etype, _) if !l.startsWith("Traceback") => l }.map { exc =>
      val etype = exc.takeWhile(_ != ':')
      val first = s"Python function $function failed: ${clip(exc)}"
      ShortFailure(etype, first, List(first))
    }
  }

  private def clip(s: String): String = if (s.length <= 300) s else s.take(297) + "..."

  private def log(text: String): Unit = synchronized {
    val writer = new OutputStreamWriter(new FileOutputStream(logFile, true), UTF_8)
    try writer.write(s"--- ${Instant.now()}\n$text\n") finally writer.close()
  }
}
