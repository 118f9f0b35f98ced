#!/usr/bin/env node
// A file that exists before the build, so installing links the command without a warning; it runs the built gateway.
import "../dist/main.js";
