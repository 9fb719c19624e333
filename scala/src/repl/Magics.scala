package pyshim.repl

import java.io.{File, FileOutputStream}
import java.net.{URI, URL}
import java.nio.file.{Files, StandardCopyOption}

import scala.util.Try
import scala.util.control.NonFatal

import org.apache.spark.sql.{DataFrame, SparkSession}

import org.apache.spark.pyshim.Dependencies
import pyshim.{Commands, PyshimException, PythonError, Sinks, SqlCells}

/**
 * The magics of pyshim's own Scala kernel, run on the cell's thread (ReplKernel.executeMagic):
 * pyshim's (Commands, shared with the Toree kernel) and Toree's built-in ones, which answer as
 * Toree's own notebooks show them (its magic-tutorial.ipynb), each message once. `%%python`
 * never comes here: it runs in the kernel's IPython.
 */
object Magics {
  private def out = Console.out
  private def spark: SparkSession = KernelApi.sparkSession

  /** Toree's built-in magics, then pyshim's, as %LsMagic lists them. */
  val ToreeLine = Seq("%adddeps", "%addjar", "%lsmagic", "%showoutput", "%showtypes", "%truncation")
  val ToreeCell = Seq("%%dataframe", "%%html", "%%javascript", "%%scala", "%%sql")

  def run(name: String, args: String, repl: ScalaRepl): CellEnd = {
    val key = name.toLowerCase
    try key match {
      case "register_model" =>
        out.println(Commands.registerModel(spark, args, Sinks.streams(out, Console.err), line => out.println(line)))
        CellEnd.ok(None)
      case "load" => load(args, repl)
      case "pyshim" => say(Commands.status())
      case "lsmagic" => say(lsMagic)
      case "truncation" => toggle(args, "NoTruncation", KernelApi.truncation, v => KernelApi.truncation = v,
        on = "Output WILL be truncated.", off = "Output will NOT be truncated", state = v => s"Truncation is currently ${onOff(v)} ")
      case "showtypes" => toggle(args, "ShowTypes", KernelApi.showTypes, v => KernelApi.showTypes = v,
        on = "Types will be printed.", off = "Types will not be printed", state = v => s"ShowTypes is currently ${onOff(v)} ")
      case "showoutput" => toggle(args, "ShowOutput", KernelApi.showOutput, v => KernelApi.showOutput = v,
        on = "Output will be shown.", off = "Output will not be shown", state = v => s"ShowOutput is currently ${onOff(v)} ")
      case "sql" => value("text/plain" -> SqlCells.show(spark, args))
      case "scala" => repl.interpret(args, silent = false)
      case "html" => if (args.trim.isEmpty) say("Usage: %%Html <string_code>") else value("text/html" -> body(args))
      case "javascript" => if (args.trim.isEmpty) say("Usage: %JavaScript <string_code>") else value("application/javascript" -> body(args))
      case "dataframe" => dataframe(args, repl)
      case "addjar" => addJar(args, repl)
      case "adddeps" => addDeps(args)
      case _ => failed(name, s"Magic $name not found; %LsMagic lists the magics of this kernel")
    } catch {
      case e: PythonError => CellEnd(None, Some((e.ename, e.evalue, e.getMessage.split("\n").toList))) // traceback, or "ename: evalue"
      case e: PyshimException => failed(name, e.getMessage)
    }
  }

  def lsMagic: String =
    s"Available line magics:\n${ToreeLine.mkString(" ")}\n\nAvailable cell magics:\n${ToreeCell.mkString(" ")}\n\n" +
      s"Type %<magic_name> for usage info.\n\n${Commands.LsMagic}"

  private def onOff(v: Boolean) = if (v) "on" else "off"

  private def say(text: String): CellEnd = { out.println(text); CellEnd.ok(None) }

  private def value(data: (String, String)*): CellEnd = CellEnd.ok(Some(data.toMap))

  private def failed(name: String, message: String): CellEnd = {
    val lines = message.split("\n").toList
    val text = if (message.startsWith(s"%$name")) lines else s"%$name: ${lines.head}" :: lines.tail
    CellEnd(None, Some((s"%$name failed", text.mkString("\n"), text))) // short already: all of it, as Toree shows it
  }

  /** A cell magic's text: what follows its name on the first line, then the next lines. */
  private def body(args: String): String = args.stripPrefix(" ").stripPrefix("\n").trim

  private def toggle(args: String, what: String, current: Boolean, set: Boolean => Unit,
                     on: String, off: String, state: Boolean => String): CellEnd = args.trim match {
    case "on" => set(true); say(on)
    case "off" => set(false); say(off)
    case "" => say(state(current))
    case other => say(s"$other is not a valid option for the $what magic.")
  }

  private def load(args: String, repl: ScalaRepl): CellEnd = {
    val (file, source) = Commands.loadSource(args)
    if (!repl.interpretQuietly(source))
      throw new PyshimException(s"%load: ${file.getPath} did not compile or run; run its code in a cell to see the compiler's messages")
    say(Commands.loaded(file, source))
  }

  private val DataFrameUsage =
    """%%dataframe [arguments]
      |DATAFRAME_CODE
      |
      |DATAFRAME_CODE can be any numbered lines of code, as long as the
      |last line is a reference to a variable which is a DataFrame.
      |    Option    Description
      |    ------    -----------
      |    --limit   The number of records to return (default: 10)
      |    --output  The type of the output: html, csv, json (default: html)""".stripMargin

  /** `%%dataframe [--output=html|csv|json] [--limit=N]` then code whose last line is a DataFrame. */
  private def dataframe(args: String, repl: ScalaRepl): CellEnd = {
    val (head, code) = args.split("\n", 2) match {
      case Array(h, c) => (h, c)
      case Array(h) => (h, "")
    }
    if (code.trim.isEmpty) return value("text/plain" -> DataFrameUsage)
    val options = head.trim.split("\\s+").filter(_.startsWith("--")).map { o =>
      val (k, v) = o.stripPrefix("--").span(_ != '=')
      k -> v.stripPrefix("=")
    }.toMap
    val output = options.getOrElse("output", "html")
    val limit = Try(options.getOrElse("limit", "10").toInt).getOrElse(10)
    repl.evaluate(code) match {
      case Left(error) => value("text/plain" -> s"An error occurred converting DataFrame to $output.\n$error")
      case Right(frame: DataFrame) => value(convert(frame, output, limit))
      case Right(other) => value("text/plain" -> (s"An error occurred converting DataFrame to $output.\n" +
        s"the last line is a ${Option(other).map(_.getClass.getName).getOrElse("null")}, not a DataFrame"))
    }
  }

  private def convert(frame: DataFrame, output: String, limit: Int): (String, String) = {
    val rows = frame.take(limit)
    val names = frame.schema.fieldNames.toSeq
    output match {
      case "csv" => "text/plain" -> (names.mkString(",") +: rows.map(_.toSeq.map(Tables.cell).mkString(","))).mkString("\n")
      case "json" => "application/json" -> frame.limit(limit).toJSON.collect().mkString("[", ",", "]")
      case _ =>
        val html = (names.mkString("<tr><th>", "</th><th>", "</th></tr>") +: rows.map(_.toSeq.map(Tables.cell)
          .mkString("<tr><td>", "</td><td>", "</td></tr>"))).mkString("<table>", "", "</table>")
        "text/html" -> html
    }
  }

  private val AddJarUsage =
    """Usage: %AddJar <jar_url>
      |
      |Option   Description
      |------   -----------
      |-f       forces re-download of specified jar
      |--magic  loads jar as a magic extension""".stripMargin

  private lazy val jarDir: File = Files.createTempDirectory("pyshim_add_jars").toFile

  /** `%AddJar URL [-f]`: the jar goes to the REPL's class path and to the executors. */
  private def addJar(args: String, repl: ScalaRepl): CellEnd = {
    val words = args.trim.split("\\s+").filter(_.nonEmpty)
    val locations = words.filterNot(_.startsWith("-"))
    if (locations.length != 1) return say(AddJarUsage)
    val location = locations.head
    val force = words.contains("-f")
    val name = new URI(location).getPath.split("/").lastOption.filter(_.nonEmpty)
      .getOrElse(throw new PyshimException(s"%AddJar: $location names no file; give the URL or path of a .jar"))
    val target = new File(jarDir, name)
    if (target.exists && !force) out.println(s"Using cached version of $name")
    else {
      out.println(s"Starting download from $location")
      try {
        val stream = (if (new URI(location).getScheme == null) new File(location).toURI.toURL else new URL(location)).openStream()
        try Files.copy(stream, target.toPath, StandardCopyOption.REPLACE_EXISTING) finally stream.close()
      } catch {
        case NonFatal(e) => throw new PyshimException(
          s"%AddJar: could not download $location (${e.getClass.getSimpleName}: ${e.getMessage}); check the URL, or copy the jar here and give its path")
      }
      out.println(s"Finished download of $name")
    }
    if (!isJar(target)) { target.delete(); throw new PyshimException(s"%AddJar: $name is not a jar (zip) file") }
    repl.addJar(target)
    spark.sparkContext.addJar(target.getAbsolutePath)
    CellEnd.ok(None)
  }

  private def isJar(file: File): Boolean = Try(new java.util.zip.ZipFile(file).close()).isSuccess

  private val AddDepsUsage =
    """Usage: %AddDeps my.company artifact-id version
      |
      |Option                        Description
      |------                        -----------
      |--abort-on-resolution-errors  Abort (no downloads) when resolution fails
      |--exclude                     exclude dependency
      |--repository                  Adds an additional repository to available list.
      |--transitive                  If true, downloads all dependencies of the specified artifact
      |--verbose                     Prints out additional information""".stripMargin

  /** `%AddDeps GROUP ARTIFACT VERSION`: resolved by Spark's own Ivy (spark.jars.packages' resolver). */
  private def addDeps(args: String): CellEnd = {
    val words = args.trim.split("\\s+").filter(_.nonEmpty)
    val coordinates = words.filterNot(_.startsWith("--"))
    if (coordinates.length != 3) return say(AddDepsUsage)
    val coordinate = coordinates.mkString(":")
    out.println(s"Marking $coordinate for download")
    val jars = Dependencies.resolve(coordinate, words.contains("--transitive")).fold(
      error => throw new PyshimException(s"%AddDeps: could not resolve $coordinate: $error. Without access to a Maven " +
        "repository, download the jar where you can and add it with %AddJar PATH"), identity)
    jars.foreach(jar => out.println(s"-> New file at $jar"))
    CellEnd.ok(None)
  }
}
