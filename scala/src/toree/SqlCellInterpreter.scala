package org.apache.toree.pyshim

import java.io.OutputStream

import scala.util.Try

import org.apache.toree.interpreter.{ExecuteFailure, ExecuteOutput, Interpreter, Results}
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.interpreter.sql.SqlInterpreter
import pyshim.{CellJobs, Progress, SqlCells}

/**
 * Toree's SQL interpreter (the %%sql magic), installed by the launcher in its place. Toree
 * runs the query in a Future on the global pool, whose threads carry no cell's job tag: the
 * query's jobs would show in no cell's progress and an interrupt could not cancel them. In a
 * cell, the query runs here on the cell's own thread, and shows as Toree shows it (the
 * first 10 rows as text); its errors reach the magic as they do from Toree's Future.
 */
class SqlCellInterpreter extends SqlInterpreter {
  private var kernelRef: KernelLike = _

  override def init(kernel: KernelLike): Interpreter = {
    kernelRef = kernel
    super.init(kernel)
  }

  override def interpret(code: String, silent: Boolean, output: Option[OutputStream]):
      (Results.Result, Either[ExecuteOutput, ExecuteFailure]) =
    (Progress.current, kernelRef) match {
      case (Some(cell), kernel) if kernel != null => once(cell, code)(show(kernel, code)).get
      case _ => super.interpret(code, silent, output)
    }

  private def show(kernel: KernelLike, code: String): (Results.Result, Either[ExecuteOutput, ExecuteFailure]) =
    (Results.Success, Left(Map("text/plain" -> SqlCells.show(kernel.sparkSession, code))))

  /**
   * Toree 0.5 runs its %%sql magic twice per cell (its @Event annotation is on both
   * `execute` and the bridge method scalac made for it), and so every query ran twice.
   * The second call of the same cell with the same query gets the first one's outcome.
   */
  private var last: Option[(CellJobs, String, Try[(Results.Result, Either[ExecuteOutput, ExecuteFailure])])] = None

  private def once(cell: CellJobs, code: String)(
      run: => (Results.Result, Either[ExecuteOutput, ExecuteFailure])) = synchronized {
    last match {
      case Some((c, q, outcome)) if (c eq cell) && q == code => outcome
      case _ =>
        val outcome = Try(run)
        last = Some((cell, code, outcome))
        outcome
    }
  }
}
