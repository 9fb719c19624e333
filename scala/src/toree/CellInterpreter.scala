package org.apache.toree.pyshim

import scala.concurrent.{ExecutionContext, Future}
import scala.tools.nsc.interpreter.{IR, OutputStream}

import com.typesafe.config.{Config, ConfigFactory}
import org.apache.toree.interpreter.{ExecuteError, ExecuteFailure, ExecuteOutput, Interpreter, Results}
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter
import org.apache.toree.global.StreamState
import org.apache.toree.utils.TaskManager
import pyshim.{Assist, CellOutput, Failures, Lineage, Progress, ToreeCellOutput}

/**
 * Toree's Scala interpreter with these changes, installed by the launcher in place of the
 * stock one (`-Ddefault_interpreter_plugin.0=Scala:org.apache.toree.pyshim.CellInterpreter`):
 *  - a cell's output goes through pyshim.CellOutput, so all of it is sent before the reply;
 *  - a cell that failed inside a model or a Python UDF ends with pyshim.Failures' short
 *    message instead of the SparkException, the worker's traceback and the JVM frames;
 *  - the cell's Spark jobs carry its job tag (pyshim.Progress): they show in its progress
 *    display, and an interrupt cancels them and no other cell's.
 *  - Tab, Shift-Tab and is-complete answer in each cell's language (pyshim.Assist);
 *  - what Toree shows of definitions goes out in order, before the value (CellDisplays).
 */
class CellInterpreter(config: Config) extends ScalaInterpreter(config) {
  def this() = this(ConfigFactory.load)

  @volatile private var toreeKernel: KernelLike = _

  /** Also Shift-Tab (inspect_request), which Toree 0.5 leaves unanswered (see InspectHandler). */
  override def init(kernel: KernelLike): Interpreter = {
    val interpreter = super.init(kernel)
    toreeKernel = kernel
    _kernel = CellDisplays.around(kernel) // after init: the REPL's `kernel` variable stays Toree's own
    InspectHandler.install(kernel, (code, cursor, detail) =>
      Assist.inspect(code, cursor, detail, (scala, start, end) => ReplAccess.typeAt(this, scala, start, end)))
    interpreter
  }

  /** Tab, per cell language (pyshim.Assist): Toree's own completion for Scala. Positions in code points. */
  override def completion(code: String, pos: Int): (Int, List[String]) =
    Assist.complete(code, pos, (scala, index) => super.completion(scala, index))

  override def isComplete(code: String): (String, String) =
    Assist.isComplete(code, scala => super.isComplete(scala))

  override def interpret(code: String, silent: Boolean, output: Option[OutputStream]):
      (Results.Result, Either[ExecuteOutput, ExecuteFailure]) = {
    // Bindings at start and nested calls from magics run inside the cell that is running.
    val cell = if (output.isEmpty || CellOutput.current.isDefined) None else ToreeCellOutput.begin(toreeKernel, output)
    val result = failedMagic(CellOutput.run(cell) {
      Progress.during(cell) {
        val done = super.interpret(code, silent, output)
        // The cell ends once the lineage of its writes is recorded (a job's next step may read it).
        if (cell.isDefined && Lineage.isInstalled) Lineage.flush(CellInterpreter.LineageWaitMs)
        done
      }
    })
    if (silent) result else cell.fold(result)(valueSentBeforeReply(result, _))
  }

  /** The cell's value goes out after its text, before the reply (CellOutput.sendResult); Toree then has none to send. */
  private def valueSentBeforeReply(result: (Results.Result, Either[ExecuteOutput, ExecuteFailure]), cell: CellOutput) =
    result match {
      case (Results.Success, Left(data)) if data.nonEmpty && cell.sendResult(data) => (Results.Success, Left(Map.empty[String, String]))
      case other => other
    }

  /**
   * Toree shows a magic's exception as the cell's text with an "ok" reply (a headless run
   * would go on after a failed %%sql): here it fails the cell, in short when Python failed.
   */
  private def failedMagic(result: (Results.Result, Either[ExecuteOutput, ExecuteFailure])) = result match {
    case (Results.Success, Left(data)) => data.get("text/plain").collect { case CellInterpreter.MagicFailure(name, message) =>
      val error = Failures.short(message) match {
        case Some(short) => ExecuteError(short.ename, short.evalue, short.lines)
        case None => ExecuteError(s"%$name failed", message.linesIterator.take(1).mkString, message.split("\n").toList)
      }
      (Results.Error, Right(error))
    }.getOrElse(result)
    case other => other
  }

  /** The cell's text first, then what Toree shows after it (definitions, the value). */
  override protected def interpretAddTask(code: String, silent: Boolean): Future[IR.Result] = {
    val cell = CellOutput.current
    taggedTask(code, silent).getOrElse(super.interpretAddTask(code, silent))
      .andThen { case _ => cell.foreach(_.flush()) }(ExecutionContext.global)
  }

  /**
   * The task Toree adds (its interpretAddTask), run with the cell's job tag: the code runs on
   * a thread of Toree's task manager, which a tag set on the caller's thread would not reach.
   */
  private def taggedTask(code: String, silent: Boolean): Option[Future[IR.Result]] = for {
    jobs <- Progress.current
    tasks <- toreeTasks
  } yield tasks.add {
    StreamState.withStreams {
      jobs.tagging { if (silent) iMain.beSilentDuring(iMain.interpret(code)) else iMain.interpret(code) }
    }
  }

  /**
   * Toree's interrupt cancels every job of the SparkContext, then gives the cell 100 ms
   * before it restarts its task manager. Here only the running cell's jobs are cancelled.
   */
  override def interrupt(): Interpreter = toreeTasks match {
    case Some(tasks) =>
      Progress.cancelRunning()
      val deadline = System.currentTimeMillis() + CellInterpreter.InterruptGraceMs
      while (tasks.isExecutingTask && System.currentTimeMillis() < deadline) Thread.sleep(10)
      if (tasks.isExecutingTask) tasks.restart()
      this
    case None => super.interrupt()
  }

  /** Toree keeps it package-private (public in the bytecode); None if that ever changes. */
  private def toreeTasks: Option[TaskManager] =
    scala.util.Try(classOf[ScalaInterpreter].getMethod("taskManager").invoke(this).asInstanceOf[TaskManager]).toOption
      .filter(_ != null)

  override protected def interpretConstructExecuteError(output: String): ExecuteError = {
    val error = super.interpretConstructExecuteError(output)
    Failures.short(s"${error.name}: ${error.value}\n$output") match {
      case Some(short) => ExecuteError(short.ename, short.evalue, short.lines)
      case None => error
    }
  }
}

object CellInterpreter {
  private val InterruptGraceMs = 100L
  private val LineageWaitMs = 120000L
  private val MagicFailure = """(?s)Magic (\S+) failed to execute with error: \n(.*)""".r
}
