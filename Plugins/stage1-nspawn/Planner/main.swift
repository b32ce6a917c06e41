import CNspawn
print(rkt_nspawn_placeholder())
