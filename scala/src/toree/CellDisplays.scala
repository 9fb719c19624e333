package org.apache.toree.pyshim

import java.lang.reflect.{InvocationHandler, InvocationTargetException, Method, Proxy}

import org.apache.toree.kernel.api.{DisplayMethodsLike, KernelLike}
import org.json4s.JsonDSL._
import org.json4s.jackson.JsonMethods.{compact, render}
import pyshim.CellOutput

/**
 * What Toree's interpreter shows of a definition cell (`answer: Int = 42`, one display per
 * definition) goes out through `kernel.display`, which hands it to Toree's message relay: its
 * actors race the cell's value, which pyshim sends straight to IOPub before the reply, so a
 * definition could show after the value. The interpreter is given this kernel instead, the
 * same in all but `display`: while a cell runs, its displays take the cell's own ordered path
 * (CellOutput.sendMessage), after the text printed so far.
 */
object CellDisplays {
  def around(toree: KernelLike): KernelLike =
    Proxy.newProxyInstance(classOf[KernelLike].getClassLoader, Array(classOf[KernelLike]), new InvocationHandler {
      def invoke(proxy: AnyRef, method: Method, args: Array[AnyRef]): AnyRef =
        if (method.getName == "display" && method.getParameterCount == 0) new Ordered(toree.display)
        else try method.invoke(toree, Option(args).getOrElse(Array.empty[AnyRef]): _*) catch { case e: InvocationTargetException => throw e.getCause }
    }).asInstanceOf[KernelLike]

  private final class Ordered(toree: DisplayMethodsLike) extends DisplayMethodsLike {
    def content(mimeType: String, data: String): Unit = CellOutput.current match {
      case Some(cell) =>
        cell.flush()
        cell.sendMessage("display_data", compact(render(
          ("source" -> "user") ~ ("data" -> Map(mimeType -> data)) ~ ("metadata" -> Map.empty[String, String]))))
      case None => toree.content(mimeType, data)
    }

    def clear(wait: Boolean): Unit = toree.clear(wait)
  }
}
