package org.apache.toree.plugins.pyshim

import scala.util.Try

import org.apache.toree.kernel.api.{Kernel, KernelLike}
import org.apache.toree.plugins.{Plugin, PluginMethod}

/**
 * Each magic runs once per use. Toree 0.5's magics put their @Event on an override of
 * `execute`, and scalac copies the annotation onto the override's bridge method; Toree's
 * plugin manager calls every method of the event, so stock Toree runs a line magic twice
 * (`%Truncation` prints its line twice, `%AddJar` downloads and then "uses the cached
 * version"). Toree's own saved notebooks show each message once: here every plugin's event
 * table leaves out bridge methods. Plugins loaded later (%AddJar --magic) are seen at the
 * next cell.
 */
object MagicsOnce {
  @volatile private var done = Set.empty[Plugin]

  def apply(kernel: KernelLike): Unit = kernel match {
    case k: Kernel => Option(k.pluginManager).foreach(_.plugins.filterNot(done).foreach(withoutBridges))
    case _ =>
  }

  private def withoutBridges(plugin: Plugin): Unit = {
    done += plugin
    val table = plugin.eventMethodMap // computed now: the lazy field holds it from here on
    val once = table.map { case (event, methods) => event -> methods.filterNot(_.method.isBridge) }
    if (once != table) Try(tableField(plugin.getClass).foreach { field =>
      field.setAccessible(true)
      field.set(plugin, once)
    })
  }

  private def tableField(klass: Class[_]): Option[java.lang.reflect.Field] =
    Iterator.iterate[Class[_]](klass)(_.getSuperclass).takeWhile(_ != null)
      .flatMap(_.getDeclaredFields.find(_.getName == "eventMethodMap")).toSeq.headOption
}
