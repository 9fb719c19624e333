package pyshim

import scala.util.Try

import org.apache.spark.sql.SparkSession
import org.json4s._
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, parse, render}

/**
 * The part of a cell that its language sees: all of it for Scala, the text after the magic's
 * name for `%%python` and `%%sql` (Toree runs a cell magic with what follows its name, even
 * on the same line). `offset` is where that text starts, as an index of the JVM string.
 */
final case class CellCode(language: String, cell: String, offset: Int) {
  def body: String = cell.substring(offset)
}

object CellCode {
  val Scala = "scala"
  val Python = "python"
  val Sql = "sql"
  val OtherMagic = "magic"

  private val CellMagic = """(?s)(\s*%%(\w*)).*""".r

  def of(cell: String): CellCode = cell match {
    case CellMagic(head, name) =>
      val language = name.toLowerCase match {
        case Python => Python
        case Sql => Sql
        case _ => OtherMagic
      }
      CellCode(language, cell, head.length)
    case _ => CellCode(Scala, cell, 0)
  }
}

/**
 * Jupyter counts cursor positions in Unicode code points; a JVM string indexes UTF-16 units,
 * two per character outside the BMP (an emoji). Every position crosses here.
 */
object CodePoints {
  def toIndex(s: String, codePoints: Int): Int =
    s.offsetByCodePoints(0, math.max(0, math.min(codePoints, s.codePointCount(0, s.length))))

  def count(s: String, index: Int): Int = s.codePointCount(0, math.max(0, math.min(index, s.length)))
}

/** The identifier around an index of a text: [start, end), both UTF-16 indices. */
object Words {
  private def isPart(c: Char): Boolean = Character.isLetterOrDigit(c) || c == '_' || c == '$'

  def start(text: String, index: Int): Int = {
    var i = math.min(index, text.length)
    while (i > 0 && isPart(text.charAt(i - 1))) i -= 1
    i
  }

  def end(text: String, index: Int): Int = {
    var i = math.max(index, 0)
    while (i < text.length && isPart(text.charAt(i))) i += 1
    i
  }

  /** The white space a line starts with. */
  def indent(line: String): String = line.takeWhile(c => c == ' ' || c == '\t')

  /** The word at the index, or the one called when the cursor is just inside `name(`. */
  def at(text: String, index: Int): Option[(Int, Int)] = {
    val (s, e) = (start(text, index), end(text, index))
    if (s < e) Some((s, e))
    else if (index > 0 && index <= text.length && text.charAt(index - 1) == '(') at(text, index - 1)
    else None
  }
}

/**
 * Completion (Tab), help (Shift-Tab) and is-complete for each cell language: Scala goes to
 * the kernel's REPL (given as functions: by CellInterpreter in the Toree kernel, by
 * ReplKernel in pyshim's own), `%%python` to IPython in the sidecar (pyshim's own kernel
 * answers those in its own IPython, pyshim/scala_kernel/assist.py), `%%sql` to the session's
 * catalog (SqlAssist). A model function's name gets its
 * DESCRIBE FUNCTION EXTENDED text in any cell. Nothing here waits for a running cell: the
 * sidecar is asked only while idle (Sidecar.quick), Spark's catalog answers from memory.
 */
object Assist {
  private implicit val formats: Formats = DefaultFormats
  /** How long a Tab waits for an idle sidecar; it answers in milliseconds, jedi on a big module in a second. */
  val SidecarWaitMs = 2000L

  private def session: Option[SparkSession] = SparkSession.getDefaultSession

  /** complete_request: (cursor_start, matches); the cursor and cursor_start in code points of the cell. */
  def complete(cell: String, cursor: Int, scala: (String, Int) => (Int, List[String])): (Int, List[String]) = {
    val at = CodePoints.toIndex(cell, cursor)
    val code = CellCode.of(cell)
    val (start, matches) =
      if (code.language == CellCode.Scala) scala(cell, at)
      else if (at < code.offset) (at, Nil) // on the magic's name
      else {
        val (s, m) = code.language match {
          case CellCode.Python => python(code.body, at - code.offset)
          case CellCode.Sql => SqlAssist.complete(session, code.body, at - code.offset)
          case _ => (0, Nil)
        }
        (s + code.offset, m)
      }
    if (matches.isEmpty) (cursor, Nil) else (CodePoints.count(cell, start), matches)
  }

  private def python(body: String, at: Int): (Int, List[String]) = {
    val payload = compact(render(("code" -> body) ~ ("cursor_pos" -> CodePoints.count(body, at))))
    val answer = Sidecar.quick("complete", payload, SidecarWaitMs).map(parse(_)).filter(ok)
    answer.fold((at, List.empty[String])) { a =>
      (CodePoints.toIndex(body, (a \ "cursor_start").extract[Int]), (a \ "matches").extract[List[String]])
    }
  }

  private def ok(answer: JValue): Boolean = (answer \ "status").extractOpt[String].contains("ok")

  /** inspect_request: the inspect_reply content, JSON. `scalaType` tells the type at [start, end) of Scala code. */
  def inspect(cell: String, cursor: Int, detailLevel: Int, scalaType: (String, Int, Int) => Option[String]): String = {
    val at = CodePoints.toIndex(cell, cursor)
    val code = CellCode.of(cell)
    val word = Words.at(cell, at).filter(_._1 >= code.offset || code.language == CellCode.Scala)
    val name = word.map { case (s, e) => cell.substring(s, e) }
    val model = name.filter(Functions.isRegistered).flatMap(n => session.flatMap(SqlAssist.describeFunction(_, n)))
    model.map(found).getOrElse(code.language match {
      case CellCode.Python if at >= code.offset =>
        val payload = compact(render(("code" -> code.body) ~ ("cursor_pos" -> CodePoints.count(code.body, at - code.offset)) ~
          ("detail_level" -> detailLevel)))
        Sidecar.quick("inspect", payload, SidecarWaitMs).filter(a => ok(parse(a))).getOrElse(notFound)
      case CellCode.Sql => name.flatMap(n => session.flatMap(SqlAssist.describe(_, n))).map(found).getOrElse(notFound)
      case CellCode.Scala => word.flatMap { case (s, e) => scalaType(cell, s, e) }.map(found).getOrElse(notFound)
      case _ => notFound
    })
  }

  def found(text: String): String =
    compact(render(("status" -> "ok") ~ ("found" -> true) ~ ("data" -> ("text/plain" -> text)) ~ ("metadata" -> JObject())))

  val notFound: String = compact(render(("status" -> "ok") ~ ("found" -> false) ~ ("data" -> JObject()) ~ ("metadata" -> JObject())))

  private val LineMagic = """\s*%\w.*""".r

  /**
   * is_complete_request: (status, indent). A cell magic is complete after a blank last line,
   * as IPython has it for console front ends, and when its body parses.
   */
  def isComplete(cell: String, scala: String => (String, String)): (String, String) = {
    val code = CellCode.of(cell)
    code.language match {
      case CellCode.Scala =>
        // Line magics (`%AddJar ...`) are the kernel's: the Scala around them is what must parse.
        val lines = cell.split("\n", -1).filterNot(line => LineMagic.pattern.matcher(line).matches)
        if (lines.forall(_.trim.isEmpty)) ("complete", "")
        else scala(lines.mkString("\n")) match {
          // As Toree's and IPython's rule for console front ends: several lines end with a blank one.
          case ("complete", _) if lines.length > 1 && lines.last.trim.nonEmpty => ("incomplete", Words.indent(lines.last))
          case answer => answer
        }
      case CellCode.Python =>
        // IPython's own rule for a cell magic; the end stays as typed: a blank last line ends it.
        val request = compact(render(("cell" -> cell.dropWhile(_.isWhitespace)) ~ ("code" -> code.body)))
        val answer = Sidecar.quick("is_complete", request, SidecarWaitMs).map(parse(_))
        answer.map(a => ((a \ "status").extract[String], (a \ "indent").extractOpt[String].getOrElse("")))
          .filter { case (status, _) => Set("complete", "incomplete", "invalid")(status) }.getOrElse(("unknown", ""))
      case _ =>
        val last = cell.split("\n", -1).last
        if (code.body.trim.isEmpty || last.trim.nonEmpty) ("incomplete", Words.indent(last))
        else if (code.language == CellCode.Sql) SqlAssist.isComplete(code.body)
        else ("complete", "")
    }
  }
}
