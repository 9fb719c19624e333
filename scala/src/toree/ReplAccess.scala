package org.apache.toree.pyshim

import scala.tools.nsc.interactive.Global
import scala.tools.nsc.interpreter.{IMain, IR}
import scala.util.Try
import scala.util.control.NonFatal

import org.apache.toree.kernel.interpreter.scala.ScalaInterpreter

/**
 * Toree keeps its IMain `private[toree]`; %load must run a file in that same REPL (like
 * Toree's own %%sql magic does) and not through the task queue it is already running on.
 */
object ReplAccess {
  def interpret(interpreter: ScalaInterpreter, code: String): Boolean =
    interpreter.iMain.interpret(code) == IR.Success

  /**
   * Shift-Tab in a Scala cell: what the REPL's presentation compiler (the one behind Tab) knows
   * of the identifier at [start, end) of `code`, typed with the session's definitions: the
   * signatures of a method (all overloads when no call picks one), else `name: Type`.
   * None where it cannot tell (a syntax error, a name it does not know).
   */
  def typeAt(interpreter: ScalaInterpreter, code: String, start: Int, end: Int): Option[String] =
    Option(interpreter.iMain).flatMap(presentationCompile(_, code)).flatMap { result =>
      try describe(result, start, end) catch {
        case NonFatal(_) => None
      } finally Try(result.getClass.getMethod("cleanup").invoke(result))
    }

  /** IMain.presentationCompile is `private[scala]` (public in the bytecode); it makes a compiler of its own per call. */
  private def presentationCompile(intp: IMain, code: String): Option[AnyRef] =
    Try(classOf[IMain].getMethod("presentationCompile", classOf[String]).invoke(intp, code)).toOption.collect {
      case Right(result: AnyRef) => result
    }

  private def describe(result: AnyRef, start: Int, end: Int): Option[String] = {
    val compiler = result.getClass.getMethod("compiler").invoke(result).asInstanceOf[Global]
    import compiler._
    val tree = result.getClass.getMethod("typedTreeAt", classOf[Int], classOf[Int])
      .invoke(result, Int.box(start), Int.box(end)).asInstanceOf[Tree]
    exitingTyper {
      val sym = tree.symbol
      val known = sym != null && sym != NoSymbol && !sym.isError
      val owner = tree match {
        case Select(qualifier, _) if qualifier.tpe != null && !qualifier.tpe.isErroneous => Some(qualifier.tpe)
        case _ => None
      }
      def signature(s: Symbol): String = owner.fold(s.defString)(t => s.defStringSeenAs(t.memberType(s)))
      if (known && (sym.isMethod || sym.isOverloaded) && !sym.isGetter) Some(sym.alternatives.map(signature).distinct.mkString("\n"))
      else if (known) {
        val tpe = if (tree.tpe == null || tree.tpe == NoType) sym.info else tree.tpe // a definition: its symbol's type
        if (tpe == null || tpe == NoType || tpe.isErroneous) None else Some(s"${sym.decodedName}: ${tpe.widen}")
      } else None
    }
  }
}
