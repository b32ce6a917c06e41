#ifndef CNSPAWN_H
#define CNSPAWN_H
int rkt_nspawn_placeholder(void);
#endif
