package org.apache.toree.kernel.api.pyshim

import scala.concurrent.Await
import scala.concurrent.duration._
import scala.util.{Failure, Success, Try}

import akka.actor.ActorRef
import akka.pattern.ask
import akka.util.Timeout
import org.apache.toree.communication.security.SecurityActorType
import org.apache.toree.kernel.protocol.v5.{KernelMessage, SocketType, SystemActorType}
import org.apache.toree.kernel.protocol.v5.kernel.ActorLoader

/**
 * Sends a cell's output message (stream, display_data, execute_result) to the IOPub socket
 * before the cell returns, so nothing of it can come after the cell's idle status.
 *
 * Toree's relay hands each message type to an actor of its own (Stream, ExecuteResult,
 * Status, ...), which forwards it to the IOPub socket: a stream message sent before the reply
 * could still reach the socket after the idle status when its actor ran later than the
 * Status actor (seen in `make bench`: a cell's last line missing at idle, 2 runs out of 4).
 * Here the message is signed by Toree's signature manager, as the relay does, then put
 * straight into the IOPub socket actor's mailbox, on the cell's thread; the idle status is
 * made after the cell returns and queues behind it. Without a signature manager (a kernel
 * started without a key) messages take the relay as before.
 */
object IOPub {
  private val SignWait = 10.seconds
  @volatile private var direct = true

  /** False once a message had to take the relay (no signature manager answered). */
  def isDirect: Boolean = direct

  def send(loader: ActorLoader, message: KernelMessage): Unit = {
    val signed = if (direct) sign(loader, message) else None
    signed match {
      case Some(m) => loader.load(SocketType.IOPub).tell(m, ActorRef.noSender)
      case None => loader.load(SystemActorType.KernelMessageRelay).tell(message, ActorRef.noSender)
    }
  }

  private def sign(loader: ActorLoader, message: KernelMessage): Option[KernelMessage] = {
    implicit val timeout: Timeout = Timeout(SignWait)
    Try(Await.result((loader.load(SecurityActorType.SignatureManager) ? message).mapTo[KernelMessage], SignWait)) match {
      case Success(m) => Some(m)
      case Failure(_) => direct = false; None
    }
  }
}
