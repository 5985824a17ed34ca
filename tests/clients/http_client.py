"""Python's http.client against eddy: several requests on one connection.

usage: python3 http_client.py HOST PORT
"""
import http.client
import json
import sys


def main() -> None:
    conn = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
    conn.request("GET", "/a?x=1")
    first = conn.getresponse()
    print(first.status, json.loads(first.read())["query"])
    conn.request("POST", "/b", body=b"payload", headers={"Content-Type": "text/plain"})
    second = conn.getresponse()
    print(second.status, json.loads(second.read())["body"])
    conn.request("PUT", "/c", body=b"x" * 100000)
    third = conn.getresponse()
    print(third.status, json.loads(third.read())["body_len"])
    print("same socket", conn.sock is not None)


if __name__ == "__main__":
    main()
