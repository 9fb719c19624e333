package pyshim

import java.io.{File, PrintStream}
import java.nio.charset.StandardCharsets
import java.nio.file.Files

import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter
import org.apache.toree.magic.{CellMagic, LineMagic, Magic, MagicOutput}
import org.apache.toree.kernel.api.pyshim.DisplayRelay
import org.apache.toree.pyshim.ReplAccess
import org.apache.toree.magic.dependencies.{IncludeKernel, IncludeOutputStream}
import org.apache.toree.plugins.annotations.Event

/**
 * Toree turns an exception thrown by a magic into plain output and an "ok" reply, so a
 * failed %%python cell would not stop nbclient or the demo. Instead a failed cell magic
 * returns this: the REPL prints a cell's value with toString, and an exception there is
 * reported as the cell's error, with our short message and no JVM stack.
 */
class FailedOutput(error: PyshimException) extends MagicOutput() {
  override def toString: String = throw error
}

trait MagicSupport extends IncludeKernel {
  this: Magic =>

  /**
   * The cell's streams. Toree points the REPL's Console.err at stdout, and kernel.err keeps
   * the stream of an earlier cell; a stream made from the current request is stderr.
   */
  protected def cellStreams(): (PrintStream, PrintStream) = {
    val err = CellOutput.current.map(c => c.err: java.io.OutputStream)
      .getOrElse(kernel.factory.newKernelOutputStream("stderr", false))
    (Console.out, new PrintStream(err, true, "UTF-8"))
  }

  protected def noticeTo(out: PrintStream): String => Unit = line => out.println(line)

  protected def fail(message: String): Nothing = throw new PyshimException(message)

  /** Run a line magic; its errors become a failed cell with a short message. */
  protected def guardedLine(what: String)(body: => Unit): MagicOutput =
    try { body; MagicOutput() } catch {
      case e: PythonError => new FailedOutput(e)
      case e: PyshimException => new FailedOutput(new PyshimException(
        if (e.getMessage.startsWith(what)) e.getMessage else s"$what: ${e.getMessage}"))
    } finally {
      Console.out.flush()
    }
}

/** Where a %%python cell's output goes: text to its streams, rich output as Jupyter messages. */
object CellDisplay {
  /** Messages go after flushing the streams, so they keep their place among the prints. */
  def sink(kernel: KernelLike, out: PrintStream, err: PrintStream): OutputSink = new OutputSink {
    private val text = Sinks.streams(out, err)
    def write(stream: String, chunk: String): Unit = text.write(stream, chunk)
    def message(msgType: String, content: String): Unit = {
      out.flush()
      err.flush()
      CellOutput.current.foreach(_.flush())
      if (!DisplayRelay.send(kernel, msgType, content)) text.message(msgType, content)
    }
  }
}

/** `%%python`: run the cell in the sidecar's IPython shell, with `spark`, `sc`, `z` and `pyshim` bound. */
class Python extends CellMagic with MagicSupport {
  // @Event sits on a method that overrides nothing: scalac copies annotations onto the
  // bridge method of an override, and Toree would then run the magic twice.
  override def execute(code: String): MagicOutput = run(code)

  @Event(name = "python")
  def run(code: String): MagicOutput = {
    val (out, err) = cellStreams()
    try {
      val answer = Replies.parseOk(
        Sidecar.call(kernel.sparkSession, "exec", code, CellDisplay.sink(kernel, out, err), noticeTo(out)))
      MagicOutput(Replies.mimeBundle(answer): _*)
    } catch {
      case e: PyshimException => new FailedOutput(e)
      case _: InterruptedException => new FailedOutput(new PyshimException("%%python: interrupted"))
    }
  }
}

/** `%register_model NAME MODEL_URI [--result-type DDL] [--env-manager local|virtualenv] [--native auto|require|off]` */
class Register_model extends LineMagic with MagicSupport {
  private val usage = "usage: %register_model NAME MODEL_URI [--result-type DDL] [--env-manager local|virtualenv] [--native auto|require|off]"

  override def execute(code: String): Unit = ()

  @Event(name = "register_model")
  def run(code: String): MagicOutput = guardedLine("%register_model") {
    val (out, err) = cellStreams()
    val args = MagicArgs.parse(code, Set("--result-type", "--env-manager", "--native")).fold(e => fail(s"$e\n$usage"), identity)
    args.positional match {
      case Seq(name, uri) =>
        val summary = Models.register(kernel.sparkSession, name, uri, args.options.get("--result-type"),
          args.options.getOrElse("--env-manager", "local"), Sinks.streams(out, err), noticeTo(out),
          args.options.getOrElse("--native", "auto"))
        out.println(summary)
      case other => fail(s"%register_model takes NAME and MODEL_URI, got ${other.size} values.\n$usage")
    }
  }
}

/**
 * `%load FILE`: run a Scala file in the interpreter (Toree has no %load). A bare name
 * such as `%load setup` also finds the project's snippets (PYSHIM_SNIPPETS).
 */
class Load extends LineMagic with MagicSupport {
  override def execute(code: String): Unit = ()

  @Event(name = "load")
  def run(code: String): MagicOutput = guardedLine("%load") {
    val name = code.trim
    if (name.isEmpty) fail("usage: %load FILE.scala (or a snippet name such as %load setup)")
    val file = Snippets.resolve(name).getOrElse(fail(
      s"%load: no file '$name' (looked in ${new File(".").getCanonicalPath}" +
        s"${Snippets.dir.map(d => s" and in the snippets folder $d").getOrElse("")}); give a path " +
        "relative to the notebook's folder, an absolute path, or a snippet name"))
    val source = new String(Files.readAllBytes(file.toPath), StandardCharsets.UTF_8)
    val interpreter = kernel.interpreter("Scala").collect { case s: ScalaInterpreter => s }
      .getOrElse(fail("%load needs Toree's Scala interpreter"))
    if (!ReplAccess.interpret(interpreter, source)) fail(s"%load: ${file.getPath} did not compile or run; see the messages above")
    Console.out.println(s"loaded ${file.getPath} (${source.linesIterator.size} lines)")
  }
}

object Snippets {
  def dir: Option[File] = sys.env.get("PYSHIM_SNIPPETS").map(new File(_)).filter(_.isDirectory)

  def resolve(name: String): Option[File] = {
    val direct = new File(name)
    val candidates = Seq(direct) ++ dir.toSeq.flatMap(d => Seq(new File(d, name), new File(d, s"$name.scala")))
    candidates.find(_.isFile)
  }
}

/** `%pyshim`: versions, sidecar state and registered models. */
class Pyshim extends LineMagic with MagicSupport {
  override def execute(code: String): Unit = run(code)

  @Event(name = "pyshim")
  def run(code: String): Unit = {
    val out = Console.out
    out.println(s"pyshim ${Version.value}: Spark ${org.apache.spark.SPARK_VERSION}, " +
      s"Scala ${scala.util.Properties.versionNumberString}, Java ${System.getProperty("java.version")}")
    val state = if (Sidecar.isAlive) s"running (pid ${Sidecar.pid}, python ${Sidecar.python})" else "not started (starts on first %%python or %register_model)"
    out.println(s"sidecar: $state")
    val models = Sidecar.registeredNames
    out.println(s"model functions: ${if (models.isEmpty) "none" else models.mkString(", ")}")
    out.flush()
  }
}

/** Toree's %lsmagic lists only its built-in magics; this adds ours to its output. */
class PyshimLsmagic extends LineMagic {
  override def execute(code: String): Unit = run(code)

  @Event(name = "lsmagic")
  def run(code: String): Unit = {
    Console.out.println(
      "pyshim magics:\n%pyshim %register_model %load\n%%python")
    Console.out.flush()
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
