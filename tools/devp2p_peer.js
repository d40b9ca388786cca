// An independent RLPx + LES/4 peer for lightclient's tests: @ethereumjs/devp2p 6.1.3, driven by
// JSON lines. It either dials a node (`dial --enode URL`) or listens (`listen --port P`), then
// prints what happens as JSON lines on stdout and obeys JSON lines on stdin:
//
//   out: {"event":"listening","id":"<128 hex>","port":P}
//        {"event":"hello","hello":{"version":5,"clientId":"...","caps":[["les",4]],"port":P,"id":"<hex>"}}
//        {"event":"status","status":{"<key>":"<hex of the raw value>", ...}}
//        {"event":"message","code":N,"payload":"<hex of the payload's RLP>"}
//        {"event":"removed","reason":N,"byUs":true|false}
//        {"event":"error","message":"..."}
//   in:  {"status":{"<key>": <number> | "0x<hex>" | ["0x<hex>", <number>]}}
//        {"send":N,"payload":"0x<RLP hex>"}           (N: LES code, 0x00-0x17)
//        {"disconnect":N}  {"exit":true}
//
// The defects of 6.1.3 that break long LES sessions are worked around as spec/les-wire.md §8.2
// describes: the capability declares 24 codes (geth's), and the status timer that the library
// leaks is cleared once a Status has arrived.
'use strict'

const readline = require('readline')
const { RLPx, LES } = require('@ethereumjs/devp2p')
const { Common } = require('@ethereumjs/common')
const { RLP } = require('@ethereumjs/rlp')

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : fallback
}

const hex = (bytes) => Buffer.from(bytes).toString('hex')
const fromHex = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'))
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

function toJs(value) {
  // JSON from the test to what ethereumjs encodes: "0x.." -> bytes, numbers stay numbers.
  if (typeof value === 'string') return fromHex(value)
  if (Array.isArray(value)) return value.map(toJs)
  return value
}

function rawToHex(value) {
  if (value instanceof Uint8Array) return hex(value)
  if (Array.isArray(value)) return value.map(rawToHex)
  return String(value)
}

class FixedLES extends LES {
  constructor(version, peer, send) {
    const orig = global.setTimeout
    const timers = []
    global.setTimeout = (...a) => {
      const t = orig(...a)
      timers.push(t)
      return t
    }
    try {
      super(version, peer, send)
    } finally {
      global.setTimeout = orig
    }
    this.events.once('status', () => timers.forEach(clearTimeout))
  }
}

const mode = process.argv[2]
const key = fromHex(arg('key', ''))
const chainId = Number(arg('chain-id', '1'))
const common = Common.custom({ chainId, networkId: chainId, name: 'lightclient-test' })
const cap = { name: 'les', version: 4, length: 24, constructor: FixedLES }
const rlpx = new RLPx(key, {
  dpt: null,
  maxPeers: 5,
  capabilities: [cap],
  common,
  // No listenPort: 6.1.3 would encode port 0 as `00`, a non-canonical integer that geth (and
  // we) refuse in a Hello (spec §8.1 #7); without it the Hello carries an empty string.
  listenPort: null,
})

let les = null
rlpx.events.on('error', (err) => say({ event: 'error', message: String(err && err.message) }))
rlpx.events.on('peer:error', (peer, err) => say({ event: 'error', message: String(err && err.message) }))
rlpx.events.on('peer:added', (peer) => {
  const hello = peer.getHelloMessage()
  say({
    event: 'hello',
    hello: {
      version: hello.protocolVersion,
      clientId: hello.clientId,
      caps: hello.capabilities.map((c) => [c.name, c.version]),
      port: hello.port,
      id: hex(hello.id),
    },
  })
  les = peer.getProtocols()[0]
  les.events.on('status', (status) => {
    const out = {}
    for (const [k, v] of Object.entries(status)) out[k] = rawToHex(v)
    say({ event: 'status', status: out })
  })
  les.events.on('message', (code, payload) => {
    if (code === 0) return // the Status, already reported
    say({ event: 'message', code, payload: hex(RLP.encode(payload)) })
  })
})
rlpx.events.on('peer:removed', (peer, reason, byUs) => {
  say({ event: 'removed', reason: typeof reason === 'number' ? reason : -1, byUs })
})

const input = readline.createInterface({ input: process.stdin })
input.on('line', (line) => {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (e) {
    say({ event: 'error', message: `bad command: ${line}` })
    return
  }
  try {
    if (cmd.exit) {
      rlpx.destroy()
      setTimeout(() => process.exit(0), 50)
    } else if (cmd.status) {
      const status = {}
      for (const [k, v] of Object.entries(cmd.status)) status[k] = toJs(v)
      les.sendStatus(status)
    } else if (cmd.send !== undefined) {
      les.sendMessage(cmd.send, RLP.decode(fromHex(cmd.payload)))
    } else if (cmd.disconnect !== undefined) {
      for (const peer of rlpx.getPeers()) peer.disconnect(cmd.disconnect)
    }
  } catch (e) {
    say({ event: 'error', message: String(e && e.message) })
  }
})
input.on('close', () => {
  rlpx.destroy()
  setTimeout(() => process.exit(0), 50)
})

if (mode === 'listen') {
  rlpx.events.on('listening', () => {
    say({ event: 'listening', id: hex(rlpx.id), port: rlpx._server.address().port })
  })
  rlpx.listen(Number(arg('port', '0')), '127.0.0.1')
} else if (mode === 'dial') {
  const url = new URL(arg('enode'))
  rlpx
    .connect({ id: fromHex(url.username), address: url.hostname, tcpPort: Number(url.port) })
    .catch((err) => say({ event: 'error', message: String(err && err.message) }))
} else {
  process.stderr.write('usage: devp2p_peer.js dial --enode URL --key HEX | listen --port P --key HEX\n')
  process.exit(2)
}
