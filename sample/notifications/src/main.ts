import { config, exitOnFailure, serve } from '../../shared/src';
import { NotificationsModule } from './notifications.module';

serve('notifications', NotificationsModule, config.notificationsEndpoint).catch(exitOnFailure('notifications'));
