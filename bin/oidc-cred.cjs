#!/usr/bin/env node
'use strict';
// Tiny shim: everything else loads from the bundle, lazily (STYLE habit 7).
require('../dist/hot.cjs').run(process.argv.slice(2));
