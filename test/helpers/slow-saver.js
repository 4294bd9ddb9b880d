'use strict';
// Saves a large state_dict to argv[2]; the test kills this process while it writes.
const { io, rand } = require('torchbridge');

io.save(new Map([['a', rand([25_000_000])], ['b', rand([25_000_000])]]), process.argv[2])
  .then(() => console.log('finished'));
