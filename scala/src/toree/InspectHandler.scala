package org.apache.toree.pyshim

import scala.concurrent.{ExecutionContext, Future, blocking}
import scala.util.Try

import akka.actor.Props
import org.apache.toree.kernel.api.KernelLike
import org.apache.toree.kernel.protocol.v5.{HeaderBuilder, KernelMessage, MessageType, SocketType, SystemActorType}
import org.apache.toree.kernel.protocol.v5.handler.{BaseHandler, GenericSocketMessageHandler}
import org.apache.toree.kernel.protocol.v5.kernel.{ActorLoader, SimpleActorLoader}
import org.json4s._
import org.json4s.jackson.JsonMethods.parse
import pyshim.ToreeCellOutput

/**
 * Shift-Tab: Toree 0.5 knows the inspect_request message type but has no actor for it, so
 * the request went nowhere and front ends got no answer. Toree routes a message of type T to
 * the actor named T (ActorLoader), and a reply of type R to the actor named R, which hands it
 * to its socket; this adds both, made like Toree's own handlers (BaseHandler sends the busy
 * and idle status around the request). `answer(code, cursor_pos, detail_level)` gives the
 * reply's content as JSON; it runs off the actor's thread, beside a running cell.
 */
class InspectHandler(loader: ActorLoader, answer: (String, Int, Int) => String) extends BaseHandler(loader) {
  private implicit val formats: Formats = DefaultFormats

  override def process(message: KernelMessage): Future[_] = Future {
    val content = Try {
      val request = parse(message.contentString)
      val code = (request \ "code").extract[String]
      val cursor = (request \ "cursor_pos").extractOpt[Int].getOrElse(code.codePointCount(0, code.length))
      blocking(answer(code, cursor, (request \ "detail_level").extractOpt[Int].getOrElse(0)))
    }.getOrElse(pyshim.Assist.notFound)
    loader.load(SystemActorType.KernelMessageRelay) ! message.copy(
      header = HeaderBuilder.create(MessageType.Outgoing.InspectReply.toString),
      parentHeader = message.header, contentString = content)
  }(ExecutionContext.global)
}

object InspectHandler {
  /** Register the handler and its reply's route, unless this Toree has its own (the names are taken then). */
  def install(kernel: KernelLike, answer: (String, Int, Int) => String): Boolean =
    ToreeCellOutput.actorLoader(kernel) match {
      case Some(loader @ SimpleActorLoader(actors)) => Try {
        actors.actorOf(Props(new InspectHandler(loader, answer)), MessageType.Incoming.InspectRequest.toString)
        actors.actorOf(Props(classOf[GenericSocketMessageHandler], loader, SocketType.Shell),
          MessageType.Outgoing.InspectReply.toString)
      }.isSuccess
      case _ => false
    }
}
