package pyshim.repl

import java.io.PrintWriter

import scala.tools.nsc.Settings
import scala.tools.nsc.interpreter.{IMain, Results}
import scala.tools.nsc.interpreter.shell.{Accumulator, ReplCompletion, ReplReporterImpl}

/** Scala 2.13's REPL API (scala-2.12/ReplCompat.scala has the same object for 2.12). */
object ReplCompat {
  type Result = Results.Result

  /** Class-based wrappers (closures and case classes serialize to executors); classes in `outDir`. */
  def interpreter(outDir: String, out: PrintWriter): IMain = {
    val settings = new Settings()
    settings.processArgumentString(s"-Yrepl-class-based -Yrepl-outdir $outDir -usejavacp -nowarn")
    val intp = new IMain(settings, new ReplReporterImpl(settings, out))
    intp.initializeCompiler()
    intp
  }

  def isSuccess(r: Result): Boolean = r == Results.Success
  def isIncomplete(r: Result): Boolean = r == Results.Incomplete

  def quietly[T](intp: IMain)(body: => T): T = {
    var result: Option[T] = None
    intp.beQuietDuring { result = Some(body) }
    result.get
  }

  def addJar(intp: IMain, jar: java.io.File): Unit = intp.addUrlsToClassPath(jar.toURI.toURL)

  def mostRecentVar(intp: IMain): String = scala.util.Try(intp.mostRecentVar).getOrElse("")

  private var completer: ReplCompletion = _

  def complete(intp: IMain, code: String, cursor: Int): (Int, Seq[String]) = {
    if (completer == null) completer = new ReplCompletion(intp, new Accumulator)
    val result = completer.complete(code, cursor)
    (result.cursor, result.candidates.map(_.name).distinct)
  }

  /** The presentation compiler's view of `code` (TypeAt); `cursor` is where a Tab would be. */
  def presentationCompile(intp: IMain, code: String, cursor: Int): Option[AnyRef] =
    intp.presentationCompile(cursor, code).toOption

  def isComplete(intp: IMain, code: String): String =
    quietly(intp)(intp.parse(code)) match {
      case Left(r) if r == Results.Incomplete => "incomplete"
      case Left(_) => "invalid"
      case Right(_) => "complete"
    }
}
