package org.apache.toree.pyshim

import java.io.{ByteArrayOutputStream, OutputStream}

import org.apache.toree.interpreter.{ExecuteFailure, ExecuteOutput, Interpreter, Results}
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.interpreter.sql.SqlInterpreter
import pyshim.Progress

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
    if (Progress.current.isEmpty || kernelRef == null) super.interpret(code, silent, output)
    else {
      val frame = kernelRef.sparkSession.sql(code.trim)
      val text = new ByteArrayOutputStream()
      Console.withOut(text) { frame.show(SqlCellInterpreter.Rows) }
      (Results.Success, Left(Map("text/plain" -> text.toString("UTF-8"))))
    }
}

object SqlCellInterpreter {
  private val Rows = 10 // as Toree's SqlService
}
