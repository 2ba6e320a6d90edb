import { App } from 'aws-cdk-lib';
import { defineTiergateApp } from './tiergate-app.js';

// No env on the stack: environment-agnostic, so synth needs neither credentials nor a default account/region.
const app = new App();
defineTiergateApp(app);
app.synth();
