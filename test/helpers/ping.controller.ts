import { Controller } from '@nestjs/common';
import { MessagePattern } from '@nestjs/microservices';

/** The smallest service: `ping` answers `'pong'`. */
@Controller()
export class PingController {
  @MessagePattern('ping')
  ping(): string {
    return 'pong';
  }
}
