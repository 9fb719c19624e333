package org.apache.toree.pyshim

import scala.tools.nsc.interpreter.IR

import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter
import pyshim.repl.TypeAt

/**
 * Toree keeps its IMain `private[toree]`; %load must run a file in that same REPL (like
 * Toree's own %%sql magic does) and not through the task queue it is already running on.
 */
object ReplAccess {
  def interpret(interpreter: ScalaInterpreter, code: String): Boolean =
    interpreter.iMain.interpret(code) == IR.Success

  /** Shift-Tab in a Scala cell: the type or signatures at [start, end) (pyshim.repl.TypeAt, shared with pyshim's own kernel). */
  def typeAt(interpreter: ScalaInterpreter, code: String, start: Int, end: Int): Option[String] =
    Option(interpreter.iMain).flatMap(TypeAt.describe(_, code, start, end))
}
