// The end of a pod's systemd-machined registration (the planner registers it: Stage1Kit's
// Machined.swift). The waiter calls this once the pod has ended.
#ifndef RKT_POD_INIT_MACHINED_H
#define RKT_POD_INIT_MACHINED_H

/// When $RKT_MACHINE_NAME is set (the planner registered the pod under that name), runs
/// `busctl … UnregisterMachine s NAME` and waits for it. Failures are ignored: machined also drops
/// a machine whose leader and unit are gone.
void machined_unregister(void);

#endif
