package pyshim

import java.io.PrintStream

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
  override def execute(code: String): Unit = ()

  @Event(name = "register_model")
  def run(code: String): MagicOutput = guardedLine("%register_model") {
    val (out, err) = cellStreams()
    out.println(Commands.registerModel(kernel.sparkSession, code, Sinks.streams(out, err), noticeTo(out)))
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
    val (file, source) = Commands.loadSource(code)
    val interpreter = kernel.interpreter("Scala").collect { case s: ScalaInterpreter => s }
      .getOrElse(fail("%load needs Toree's Scala interpreter"))
    if (!ReplAccess.interpret(interpreter, source)) fail(s"%load: ${file.getPath} did not compile or run; see the messages above")
    Console.out.println(Commands.loaded(file, source))
  }
}

/** `%pyshim`: versions, sidecar state and registered models. */
class Pyshim extends LineMagic with MagicSupport {
  override def execute(code: String): Unit = run(code)

  @Event(name = "pyshim")
  def run(code: String): Unit = {
    Console.out.println(Commands.status())
    Console.out.flush()
  }
}

/** Toree's %lsmagic lists only its built-in magics; this adds ours to its output. */
class PyshimLsmagic extends LineMagic {
  override def execute(code: String): Unit = run(code)

  @Event(name = "lsmagic")
  def run(code: String): Unit = {
    Console.out.println(Commands.LsMagic)
    Console.out.flush()
  }
}
