package org.apache.toree.pyshim

import scala.concurrent.{ExecutionContext, Future}
import scala.tools.nsc.interpreter.{IR, OutputStream}

import com.typesafe.config.{Config, ConfigFactory}
import org.apache.toree.interpreter.{ExecuteError, ExecuteFailure, ExecuteOutput, Results}
import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter
import pyshim.{CellOutput, Failures, Lineage}

/**
 * Toree's Scala interpreter with two changes, installed by the launcher in place of the
 * stock one (`-Ddefault_interpreter_plugin.0=Scala:org.apache.toree.pyshim.CellInterpreter`):
 *  - a cell's output goes through pyshim.CellOutput, so all of it is sent before the reply;
 *  - a cell that failed inside a model or a Python UDF ends with pyshim.Failures' short
 *    message instead of the SparkException, the worker's traceback and the JVM frames.
 */
class CellInterpreter(config: Config) extends ScalaInterpreter(config) {
  def this() = this(ConfigFactory.load)

  override def interpret(code: String, silent: Boolean, output: Option[OutputStream]):
      (Results.Result, Either[ExecuteOutput, ExecuteFailure]) = {
    // Bindings at start and nested calls from magics run inside the cell that is running.
    val cell = if (output.isEmpty || CellOutput.current.isDefined) None else CellOutput.begin(kernel, output)
    val result = failedMagic(CellOutput.run(cell) {
      val done = super.interpret(code, silent, output)
      // The cell ends once the lineage of its writes is recorded (a job's next step may read it).
      if (cell.isDefined && Lineage.isInstalled) Lineage.flush(CellInterpreter.LineageWaitMs)
      done
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
    super.interpretAddTask(code, silent).andThen { case _ => cell.foreach(_.flush()) }(ExecutionContext.global)
  }

  override protected def interpretConstructExecuteError(output: String): ExecuteError = {
    val error = super.interpretConstructExecuteError(output)
    Failures.short(s"${error.name}: ${error.value}\n$output") match {
      case Some(short) => ExecuteError(short.ename, short.evalue, short.lines)
      case None => error
    }
  }
}

object CellInterpreter {
  private val LineageWaitMs = 120000L
  private val MagicFailure = """(?s)Magic (\S+) failed to execute with error: \n(.*)""".r
}
