#!/usr/bin/env node
// `node dist/train.js`, as the README documents it: the training CLI, which lives in
// bin/train.ts (the `torchbridge-train` bin).
import './bin/train';
