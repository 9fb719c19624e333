package pyshim.repl

import scala.util.Try

import org.apache.spark.SparkContext
import org.apache.spark.sql.{Row, SparkSession}

/**
 * What a Scala cell shows, as Toree shows it, so that a Toree notebook reads the same in this
 * kernel: the REPL's echo of definitions becomes text (`answer = 42`, with its type under
 * %ShowTypes), other echo lines stay as they are, and the cell's last result is its value.
 * With %Truncation on (the default) the value is the REPL's own, length-limited rendering;
 * off, it is the whole `toString`. Values get Toree's rich forms: a SparkContext or
 * SparkSession its UI link, an Array[Row] a table, an object with `toHtml` its HTML.
 */
object Display {
  private val NamedResult = """(?:(?:val|var)\s+)?(\w+):\s+([^=]+?)\s+=\s*(.*)""".r
  private val Definition = """defined\s+(\w+)\s+(.+)""".r
  private val Import = """import\s+[\w.,{}\s]+""".r
  // Scala 2.13 echoes `class DFRecord`, where 2.12 (and so Toree) said `defined class DFRecord`.
  private val Defined213 = """(class|object|trait|type)\s+(\w+)\b.*""".r

  final case class Shown(value: Option[Any], definitions: String, text: String)

  /** The echo of a cell that succeeded, and a way to read a variable's value. */
  def prepare(echo: String, read: String => Option[Any]): Shown = {
    var value = Option.empty[Any]
    var valueText = ""
    val definitions = new StringBuilder
    val text = new StringBuilder
    echo.split("\n").filter(_.trim.nonEmpty).foreach {
      case NamedResult(name, vtype, shown) if read(name).isDefined =>
        val whole = read(name).map(String.valueOf).getOrElse("")
        val rendered = if (KernelApi.truncation) shown else whole
        value = if (KernelApi.truncation) Some(shown) else read(name)
        valueText = rendered
        val line = if (KernelApi.showTypes) s"$name: $vtype = $rendered" else s"$name = $rendered"
        if (!name.matches("res\\d+")) definitions.append(line).append("\n")
        if (KernelApi.showTypes) {
          val typed = if (name.matches("res\\d+")) s"$vtype = $rendered" else line
          value = Some(typed)
          valueText = typed
        }
      case Definition(kind, name) =>
        valueText = ""
        definitions.append(s"defined $kind $name\n")
      case Defined213(kind, name) =>
        valueText = ""
        definitions.append(s"defined $kind $name\n")
      case Import() =>
      case line if valueText.nonEmpty && valueText.contains(line) =>
      case line => text.append(line).append("\n")
    }
    Shown(value, definitions.toString, text.toString)
  }

  /** A value's MIME bundle. */
  def bundle(value: Any): Map[String, String] = value match {
    case sc: SparkContext => spark(sc)
    case session: SparkSession => spark(session.sparkContext)
    case rows: Array[Row] => Tables.render(rows)
    case Some(inner) => bundle(inner).map { case (mime, v) => mime -> (if (mime == "text/plain") s"Some($v)" else v) }
    case None => Map("text/plain" -> "None")
    case array: Array[_] => Map("text/plain" -> array.map(e => bundle(e).getOrElse("text/plain", "")).mkString("[", ", ", "]"))
    case other =>
      val text = String.valueOf(other)
      toHtml(other).fold(Map("text/plain" -> text))(html => Map("text/plain" -> text, "text/html" -> html))
  }

  private def spark(sc: SparkContext): Map[String, String] = {
    val url = sc.uiWebUrl.getOrElse("")
    Map("text/plain" -> s"Spark ${sc.applicationId}: ${sc.uiWebUrl}",
        "text/html" -> s"""<ul>\n<li><a href="$url" target="new_tab">Spark UI: ${sc.applicationId}</a></li>\n</ul>""")
  }

  /** An object's own `toHtml()`, when it has one. */
  private def toHtml(obj: Any): Option[String] = obj match {
    case null => None
    case o: AnyRef => Try(o.getClass.getMethod("toHtml")).toOption.filter(_.getParameterCount == 0)
      .flatMap(m => Try(String.valueOf(m.invoke(o))).toOption)
    case _ => None
  }
}

/** Rows as a text table and an HTML table (a value of type Array[Row], `%%dataframe`). */
object Tables {
  def cell(value: Any): String = value match {
    case null => "NULL"
    case bytes: Array[Byte] => bytes.map("%02X".format(_)).mkString("[", " ", "]")
    case array: Array[_] => array.mkString("[", ", ", "]")
    case seq: scala.collection.Seq[_] => seq.mkString("[", ", ", "]")
    case map: scala.collection.Map[_, _] => map.map { case (k, v) => s"$k -> $v" }.mkString("{", ", ", "}")
    case other => other.toString
  }

  def render(rows: Array[Row], names: Option[Seq[String]] = None): Map[String, String] =
    if (rows.isEmpty) Map("text/plain" -> "", "text/html" -> "")
    else {
      val cells = rows.map(_.toSeq.map(cell))
      val widths = (names.toSeq.map(_.map(_.length)) ++ cells.map(_.map(_.length)))
        .foldLeft(Seq.fill(cells.head.size)(3))((w, row) => w.zip(row).map { case (a, b) => math.max(a, b) })
      val divider = widths.map(w => "-" * (w + 2)).mkString("+", "+", "+")
      def line(values: Seq[String]) = values.zip(widths).map { case (v, w) => s" ${v.padTo(w, ' ')} " }.mkString("|", "|", "|")
      val text = (Seq(divider) ++ names.toSeq.flatMap(n => Seq(line(n), divider)) ++ cells.map(r => line(r)) :+ divider)
      val html = (Seq("<table>") ++ names.map(_.mkString("<tr><th>", "</th><th>", "</th></tr>")) ++
        cells.map(_.mkString("<tr><td>", "</td><td>", "</td></tr>")) :+ "</table>")
      Map("text/plain" -> text.mkString("\n"), "text/html" -> html.mkString("\n"))
    }
}
