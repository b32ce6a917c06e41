#include "CNspawn.h"
int rkt_nspawn_placeholder(void) { return 0; }
