package pyshim

import java.io.File
import java.nio.charset.StandardCharsets
import java.nio.file.Files

import org.apache.spark.sql.SparkSession

/**
 * What pyshim's magics do, shared by both Scala kernels: Toree's magic classes
 * (toree/Magics.scala) and pyshim's own kernel (repl/, pyshim/scala_kernel) call these, so a
 * magic's arguments, messages and output are the same on every Spark line.
 */
object Commands {
  val RegisterUsage = "usage: %register_model NAME MODEL_URI [--result-type DDL] [--env-manager local|virtualenv] [--native auto|require|off]"

  /** pyshim's magics, as `%LsMagic` adds them to the kernel's own list. */
  val LsMagic = "pyshim magics:\n%pyshim %register_model %load\n%%python"

  /** `%register_model LINE`: registers the model and returns its one summary. */
  def registerModel(spark: SparkSession, line: String, sink: OutputSink, notice: String => Unit): String = {
    val args = MagicArgs.parse(line, Set("--result-type", "--env-manager", "--native"))
      .fold(e => fail(s"$e\n$RegisterUsage"), identity)
    args.positional match {
      case Seq(name, uri) =>
        Models.register(spark, name, uri, args.options.get("--result-type"),
          args.options.getOrElse("--env-manager", "local"), sink, notice, args.options.getOrElse("--native", "auto"))
      case other => fail(s"%register_model takes NAME and MODEL_URI, got ${other.size} values.\n$RegisterUsage")
    }
  }

  /** `%load NAME`: the file it names (a path, or a snippet such as `setup`) and its text. */
  def loadSource(line: String): (File, String) = {
    val name = line.trim
    if (name.isEmpty) fail("usage: %load FILE.scala (or a snippet name such as %load setup)")
    val file = Snippets.resolve(name).getOrElse(fail(
      s"%load: no file '$name' (looked in ${new File(".").getCanonicalPath}" +
        s"${Snippets.dir.map(d => s" and in the snippets folder $d").getOrElse("")}); give a path " +
        "relative to the notebook's folder, an absolute path, or a snippet name"))
    (file, new String(Files.readAllBytes(file.toPath), StandardCharsets.UTF_8))
  }

  def loaded(file: File, source: String): String = s"loaded ${file.getPath} (${source.linesIterator.size} lines)"

  /** `%pyshim`: versions, the Python side's state and the model functions. */
  def status(): String = {
    val state = if (Sidecar.inProcess) s"this kernel's own Python (pid ${Sidecar.pid})"
                else if (Sidecar.isAlive) s"running (pid ${Sidecar.pid}, python ${Sidecar.python})"
                else "not started (starts on first %%python or %register_model)"
    val models = Sidecar.registeredNames
    Seq(s"pyshim ${Version.value}: Spark ${org.apache.spark.SPARK_VERSION}, " +
          s"Scala ${scala.util.Properties.versionNumberString}, Java ${System.getProperty("java.version")}",
        s"sidecar: $state",
        s"model functions: ${if (models.isEmpty) "none" else models.mkString(", ")}").mkString("\n")
  }

  private def fail(message: String): Nothing = throw new PyshimException(message)
}

object Snippets {
  def dir: Option[File] = sys.env.get("PYSHIM_SNIPPETS").map(new File(_)).filter(_.isDirectory)

  def resolve(name: String): Option[File] = {
    val direct = new File(name)
    val candidates = Seq(direct) ++ dir.toSeq.flatMap(d => Seq(new File(d, name), new File(d, s"$name.scala")))
    candidates.find(_.isFile)
  }
}

object Version {
  val value = "0.1.0"
}

final case class MagicArgs(positional: Seq[String], options: Map[String, String])

object MagicArgs {
  /** Split on blanks, `--opt value` or `--opt=value` for the known options. */
  def parse(line: String, known: Set[String]): Either[String, MagicArgs] = {
    val words = line.trim.split("\\s+").filter(_.nonEmpty).toList
    @annotation.tailrec
    def loop(rest: List[String], pos: Vector[String], opts: Map[String, String]): Either[String, MagicArgs] =
      rest match {
        case Nil => Right(MagicArgs(pos, opts))
        case w :: tail if w.startsWith("--") && w.contains("=") =>
          val (k, v) = w.splitAt(w.indexOf('='))
          if (!known(k)) Left(s"unknown option $k") else loop(tail, pos, opts + (k -> v.drop(1)))
        case w :: v :: tail if known(w) => loop(tail, pos, opts + (w -> v))
        case w :: _ if w.startsWith("--") => Left(s"unknown or incomplete option $w")
        case w :: tail => loop(tail, pos :+ w, opts)
      }
    loop(words, Vector.empty, Map.empty)
  }
}
