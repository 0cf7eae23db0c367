// Entry point of the web UI bundle (scripts/build-ui.mjs).

import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
