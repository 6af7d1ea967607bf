import { config, exitOnFailure, serve } from '../../shared/src';
import { MathModule } from './math.module';

serve('math', MathModule, config.mathEndpoint).catch(exitOnFailure('math'));
