import { Controller, Logger } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Notification, NotificationPatterns } from '../../shared/src';

const KEEP = 10;

@Controller()
export class NotificationsController {
  private readonly logger = new Logger('Notifications');
  private readonly delivered: Notification[] = [];

  /** An event handler: fire-and-forget, the caller gets no reply. */
  @EventPattern(NotificationPatterns.send)
  deliver(@Payload() { to, text }: Notification): void {
    this.delivered.push({ to, text });
    if (this.delivered.length > KEEP) this.delivered.shift();
    this.logger.log(`to ${to}: ${text}`);
  }

  @MessagePattern(NotificationPatterns.recent)
  recent(): Notification[] {
    return [...this.delivered];
  }
}
