#!/usr/bin/env node
'use strict';
// Tiny shim: everything else loads from the bundle, lazily (docs/architecture.md).
require('./boot.cjs').boot(process.argv.slice(2));
