#!/usr/bin/env node
'use strict';
// Tiny shim: everything else loads from the bundle, lazily (STYLE habit 7).
require('./boot.cjs').boot(process.argv.slice(2));
