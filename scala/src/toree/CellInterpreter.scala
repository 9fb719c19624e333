package org.apache.toree.pyshim

import java.util.concurrent.ExecutionException

import scala.concurrent.{ExecutionContext, Future, Promise}
import scala.util.{Failure, Success, Try}
import scala.tools.nsc.interpreter.{IR, OutputStream}

import com.typesafe.config.{Config, ConfigFactory}
import org.apache.toree.interpreter.{ExecuteError, ExecuteFailure, ExecuteOutput, Interpreter, Results}
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter
import org.apache.toree.global.StreamState
import org.apache.toree.plugins.pyshim.MagicsOnce
import org.apache.toree.utils.TaskManager
import pyshim.{Assist, CellOutput, CellThreads, Failures, Lineage, Progress, ToreeCellOutput}

/**
 * Toree's Scala interpreter with these changes, installed by the launcher in place of the
 * stock one (`-Ddefault_interpreter_plugin.0=Scala:org.apache.toree.pyshim.CellInterpreter`):
 *  - a cell's output goes through pyshim.CellOutput, so all of it is sent before the reply;
 *  - a cell that failed inside a model or a Python UDF ends with pyshim.Failures' short
 *    message instead of the SparkException, the worker's traceback and the JVM frames;
 *  - the cell's Spark jobs carry its job tag (pyshim.Progress): they show in its progress
 *    display, and an interrupt cancels them and no other cell's;
 *  - an interrupt also ends the cell's own code (pyshim.CellThreads: its thread is
 *    interrupted, then stopped), and the cell ends with one line saying so;
 *  - Tab, Shift-Tab and is-complete answer in each cell's language (pyshim.Assist);
 *  - what Toree shows of definitions goes out in order, before the value (CellDisplays);
 *  - a line magic runs once, not twice as in stock Toree 0.5 (MagicsOnce).
 */
class CellInterpreter(config: Config) extends ScalaInterpreter(config) {
  def this() = this(ConfigFactory.load)

  @volatile private var toreeKernel: KernelLike = _
  /** The code of the cell that runs now, and what its caller waits on (failed when it is given up on). */
  @volatile private var pending: Option[(CellThreads.Cell, Promise[IR.Result])] = None

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
    val outermost = CellOutput.current.isEmpty
    if (outermost) MagicsOnce(toreeKernel)
    val cell = if (output.isEmpty || !outermost) None else ToreeCellOutput.begin(toreeKernel, output)
    val result = failedMagic(CellOutput.run(cell) {
      Progress.during(cell) {
        val done = if (outermost) toldIfInterrupted(super.interpret(code, silent, output)) else super.interpret(code, silent, output)
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
    toreeTasks.map(cellTask(_, code, silent)).getOrElse(super.interpretAddTask(code, silent))
      .andThen { case _ => cell.foreach(_.flush()) }(ExecutionContext.global)
  }

  /**
   * The task Toree adds (its interpretAddTask), run as the cell's code (CellThreads: an
   * interrupt reaches its thread) with the cell's job tag: the code runs on a thread of
   * Toree's task manager, which a tag set on the caller's thread would not reach. Its caller
   * stops waiting when an interrupt gives the code up.
   */
  private def cellTask(tasks: TaskManager, code: String, silent: Boolean): Future[IR.Result] = {
    val run = new CellThreads.Cell
    val givenUp = Promise[IR.Result]()
    if (CellThreads.running.isEmpty) pending = Some(run -> givenUp) // not a binding asked for inside a cell
    val jobs = Progress.current
    val task = tasks.add {
      CellThreads.run(run) {
        StreamState.withStreams {
          def interpretCode = if (silent) iMain.beSilentDuring(iMain.interpret(code)) else iMain.interpret(code)
          jobs.fold(interpretCode)(_.tagging(interpretCode))
        }
      }
    }
    Future.firstCompletedOf(Seq(task, givenUp.future))(ExecutionContext.global)
  }

  /**
   * An interrupted cell ends with CellThreads' one line instead of the exception its code
   * got (InterruptedException, ThreadDeath, a cancelled job) and the JVM frames. A cell that
   * ended well despite the interrupt keeps its result, and one that failed otherwise its
   * error (a %%python cell's KeyboardInterrupt and the line it was at).
   */
  private def toldIfInterrupted(body: => (Results.Result, Either[ExecuteOutput, ExecuteFailure])) = {
    pending = None
    val outcome = Try(body)
    val note = pending.flatMap(_._1.interruption)
    pending = None
    def told(message: String) = (Results.Error, Right(ExecuteError("Interrupted", message, List(message))))
    (outcome, note) match {
      // Toree names the exception, or (when the REPL kept none) puts all the text in the value.
      case (Success((Results.Error, Right(error: ExecuteError))), Some(message))
        if CellThreads.fromInterrupt(s"${error.name}: ${error.value}") || CellThreads.fromInterrupt(error.value) => told(message)
      case (Success((Results.Aborted, _)) | Failure(_), Some(message)) => told(message) // given up on
      case (done, _) => done.get
    }
  }

  /**
   * Toree's interrupt cancels every job of the SparkContext, then gives the cell 100 ms
   * before it restarts its task manager, whose thread may go on running the cell's code.
   * Here the running cell's jobs are cancelled, and its code is ended (CellThreads); code
   * that could not be stopped is left to its thread, and the next cell gets a fresh one.
   */
  override def interrupt(): Interpreter = toreeTasks match {
    case Some(tasks) =>
      CellThreads.interrupt(CellInterpreter.InterruptGraceMs, () => Progress.cancelRunning()).filterNot(_.ended).foreach { _ =>
        pending.foreach(_._2.tryFailure(new ExecutionException("interrupted", null)))
        tasks.restart()
      }
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
  private val InterruptGraceMs = 1000L
  private val LineageWaitMs = 120000L
  private val MagicFailure = """(?s)Magic (\S+) failed to execute with error: \n(.*)""".r
}
