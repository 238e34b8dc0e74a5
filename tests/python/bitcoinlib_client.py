#!/usr/bin/env python3
"""Talks to a running regtest bitcoin-node through python-bitcoinlib, a
client written for Bitcoin Core by others, and prints a JSON summary of
what it got back (checked by tests/tests/node_rpc.rs).

python-bitcoinlib deserializes blocks, headers and transactions itself, so
the summary shows that the node's raw data are what a Core client expects.

Usage: bitcoinlib_client.py --url=http://USER:PASS@127.0.0.1:PORT
                            --conf=CLIENT_CONF --address=BCRT1_ADDRESS
(--conf: a file with rpcport= and datadir=, read by the library, which then
takes the credentials from datadir/regtest/.cookie.)
"""

import argparse
import json
import sys

try:
    import bitcoin
    import bitcoin.rpc
    from bitcoin.core import COutPoint, b2lx, lx
    from bitcoin.wallet import CBitcoinAddress
except ImportError as e:
    print(f"python-bitcoinlib is missing ({e}): pip install python-bitcoinlib",
          file=sys.stderr)
    sys.exit(3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--address", required=True)
    a = ap.parse_args()

    bitcoin.SelectParams("regtest")
    p = bitcoin.rpc.Proxy(service_url=a.url, timeout=60)
    s = {}

    s["count_before"] = p.getblockcount()
    addr = CBitcoinAddress(a.address)
    s["generated"] = [b2lx(h) for h in p.generatetoaddress(3, addr)]
    s["count"] = p.getblockcount()
    best = p.getbestblockhash()
    s["best"] = b2lx(best)

    # getblock: the library asks for verbosity false and deserializes.
    block = p.getblock(best)
    s["block_hash"] = b2lx(block.GetHash())
    s["block_ntx"] = len(block.vtx)
    s["merkle_ok"] = block.calc_merkle_root() == block.hashMerkleRoot
    coinbase = block.vtx[0]
    s["coinbase_txid"] = b2lx(coinbase.GetTxid())

    # getrawtransaction with the block hash (no -txindex), plain and verbose.
    tx = p.getrawtransaction(coinbase.GetTxid(), block_hash=best)
    s["rawtx_txid"] = b2lx(tx.GetTxid())
    txv = p.getrawtransaction(coinbase.GetTxid(), True, best)
    s["rawtx_verbose_blockhash"] = b2lx(txv["blockhash"])
    s["rawtx_verbose_confirmations"] = txv.get("confirmations")
    assert txv["tx"].GetTxid() == coinbase.GetTxid()

    # getblockheader: deserialized, and verbose.
    header = p.getblockheader(best)
    s["header_hash"] = b2lx(header.GetHash())
    s["header_prev"] = b2lx(header.hashPrevBlock)
    hv = p.getblockheader(best, True)
    s["header_height"] = hv["height"]
    assert hv["nextblockhash"] is None and hv["confirmations"] == 1

    s["block1"] = b2lx(p.getblockhash(1))
    out = p.gettxout(COutPoint(coinbase.GetTxid(), 0))
    s["txout_value_sat"] = out["txout"].nValue

    mining = p.getmininginfo()
    s["mining_blocks"] = mining["blocks"]
    s["chain"] = p.call("getblockchaininfo")["chain"]
    s["network_version"] = p.call("getnetworkinfo")["version"]
    try:
        p.getinfo()
        s["getinfo_error"] = None
    except bitcoin.rpc.JSONRPCError as e:
        s["getinfo_error"] = e.error["code"]
    try:
        p.getblockhash(10**6)
        s["bad_height"] = None
    except IndexError as e:
        s["bad_height"] = str(e)
    try:
        p.getblock(lx("11" * 32))
        s["missing_block"] = None
    except IndexError as e:
        s["missing_block"] = str(e)
    s["mempool"] = [b2lx(t) for t in p.getrawmempool()]

    # The same node through btc_conf_file (rpcport + cookie in datadir).
    pc = bitcoin.rpc.Proxy(btc_conf_file=a.conf, timeout=60)
    s["conf_count"] = pc.getblockcount()

    print(json.dumps(s, default=str))


if __name__ == "__main__":
    main()
