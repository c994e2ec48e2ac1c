#!/usr/bin/env node
// The `framepipe` command of the umbrella package: the same program as @framepipe/cli's.
import '@framepipe/cli/bin';
