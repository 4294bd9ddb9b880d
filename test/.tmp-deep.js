const { io } = require('torchbridge');
(async () => {
  for (const depth of [999, 1000, 1001, 200000]) {
    let v = [];
    for (let i = 1; i < depth; i++) v = [v];
    const o = {}; let d = o; for (let i = 1; i < depth; i++) { d.k = {}; d = d.k; }
    for (const x of [v, o]) {
      try { await io.save(x, `/tmp/deep-${process.pid}.pth`); const back = await io.load(`/tmp/deep-${process.pid}.pth`); console.log(depth, 'ok'); }
      catch (e) { console.log(depth, e.name, e.code, e.message.slice(0, 100), e.stack.split('\n').slice(1, 4).join(' | ')); }
    }
  }
})();
