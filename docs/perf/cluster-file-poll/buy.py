import http.client, json, time, sys
n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
c = http.client.HTTPConnection("127.0.0.1", 8080)
lat = []
toys = ["Tux","Whale","Elephant","Bird","Risk","Sand","Jenga","Uno","Pinball","Clue","Barbie","Frisbee","LEGO","Monopoly","Slinky"]
for i in range(n):
    body = json.dumps({"name": toys[i % len(toys)], "quantity": 1})
    t = time.perf_counter()
    c.request("POST", "/orders", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print("n", n, "p50 %.2f ms p90 %.2f" % (lat[len(lat)//2], lat[int(len(lat)*0.9)]), "last status", r.status)
