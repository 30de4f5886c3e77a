#!/usr/bin/env node
'use strict';
require('../dist/src/cli/main.js')
  .main(process.argv)
  .catch((err) => {
    // main() prints its own errors; this is the last resort for a bug in it.
    console.error(err);
    process.exit(1);
  });
