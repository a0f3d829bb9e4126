"""Decoding Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into JSON-style dicts.

kubectl 1.32+ sends `kubectl create namespace|configmap|secret|deployment|...` bodies as protobuf, and
helm v4 writes its release Secrets and DeleteOptions that way. The sandbox answers in JSON, so only decoding
is needed.

A body is the 4 bytes `k8s\\x00` followed by a `runtime.Unknown` message::

    Unknown {1: TypeMeta {1: apiVersion, 2: kind}, 2: raw (typed object), 3: contentEncoding, 4: contentType}

`raw` is decoded with `SCHEMA`, a table of the protobuf messages of the built-in kinds the sandbox serves,
into the dict a JSON request for the same object would have produced:

* Field names are the JSON names. Embedded structs Go inlines in JSON (`Volume` → `VolumeSource`,
  `ConfigMapKeySelector` → `LocalObjectReference`, `Probe` → `ProbeHandler`, ...) are merged into the parent.
* Go's protobuf encoder writes every non-pointer field, zero or not, while its JSON encoder drops zero
  `omitempty` scalars. Zero `omitempty` scalars (`""`, `0`, `false`) are therefore dropped, and scalars Go
  keeps in JSON (pointers such as `replicas: 0`, or fields without `omitempty`) are kept as sent. Messages
  are kept even when empty, as Go's JSON does for structs: `resources: {}`, `strategy: {}` and also
  `status: {}`, which is exactly what the same client sends when it speaks JSON (status is the server's to
  set, so keeping it costs nothing and keeps both encodings identical).
* `metav1.Time`/`MicroTime` become RFC 3339 strings; a zero/empty time (JSON `null`) is dropped, so
  `metadata.creationTimestamp` never appears as an empty value. `resource.Quantity` becomes its string,
  `intstr.IntOrString` an int or a string, bytes base64, and `RawExtension`/`FieldsV1` their embedded JSON.
* Fields missing from the table are skipped, as Go skips unknown fields.

Malformed input (bad prefix, truncated or over-long varints, lengths past the end, group wire types,
wrong wire types, invalid UTF-8, too deep nesting) raises `errors.BadRequest`; a kind without a table entry
or a compressed envelope raises `errors.UnsupportedMediaType` asking for JSON.
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import struct
from collections.abc import Iterator
from typing import NamedTuple

from providers.sandbox import errors

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
MAX_BODY_BYTES = 3 * 1024 * 1024
"""Same limit as `bodies.MAX_BODY_BYTES` (etcd's request size limit)."""
MAX_DEPTH = 32
"""Deepest message nesting accepted; the deepest path in `SCHEMA` (a CronJob's pod) is 13."""

SCALARS = frozenset({"string", "bytes", "bool", "int32", "int64", "double"})
SPECIAL = frozenset({"Time", "MicroTime", "Quantity", "IntOrString", "RawExtension", "FieldsV1"})
"""Well-known apimachinery messages whose JSON form is not an object."""

SINGLE, REPEATED, MAP = "single", "repeated", "map"
INLINE = "..."
"""JSON name of an embedded struct whose fields Go's JSON encoder inlines into the parent."""


class Field(NamedTuple):
    json_name: str
    type: str
    """A scalar in `SCALARS`, a name in `SPECIAL` or a message name in `SCHEMA`."""
    cardinality: str
    """`single`, `repeated` or `map` (repeated entries {1: string key, 2: value})."""
    keep_zero: bool = False
    """For single scalars: keep `""`/`0`/`false` (Go pointer fields and fields without `omitempty`)."""


# Derived from k8s.io/api and k8s.io/apimachinery (github.com/kubernetes/api @ 10b39a39,
# github.com/kubernetes/apimachinery @ eed236ce): field numbers, types and cardinality from each package's
# generated.proto (core/v1, apps/v1, batch/v1, rbac/v1, policy/v1, networking/v1, scheduling/v1, storage/v1,
# autoscaling/v1, autoscaling/v2, coordination/v1, pkg/apis/meta/v1), JSON names, `omitempty` and pointer-ness
# from the struct tags in types.go. Notation, one message per entry (indented lines continue it):
#   `Message: <number> <jsonName> <type>; ...` where type is a scalar, a message, `[]T` (repeated),
#   `map[string]T`, or a scalar ending in `!` (keep zero values); jsonName `...` inlines the message.
# Messages whose name exists in several packages carry a `group.version.` prefix. Only the transitive
# closure of the kinds in `KINDS` is listed; fields typed in alpha packages (batch/v1
# JobSchedulingConfiguration's scheduling/v1alpha3 fields) are left out and therefore skipped.
_SCHEMA_SOURCE = """
Namespace: 1 metadata ObjectMeta; 2 spec NamespaceSpec; 3 status NamespaceStatus
Pod: 1 metadata ObjectMeta; 2 spec PodSpec; 3 status PodStatus
Service: 1 metadata ObjectMeta; 2 spec ServiceSpec; 3 status ServiceStatus
Endpoints: 1 metadata ObjectMeta; 2 subsets []EndpointSubset
ConfigMap: 1 metadata ObjectMeta; 4 immutable bool!; 2 data map[string]string;
    3 binaryData map[string]bytes
Secret: 1 metadata ObjectMeta; 5 immutable bool!; 2 data map[string]bytes;
    4 stringData map[string]string; 3 type string
ServiceAccount: 1 metadata ObjectMeta; 2 secrets []ObjectReference;
    3 imagePullSecrets []LocalObjectReference; 4 automountServiceAccountToken bool!
PersistentVolumeClaim: 1 metadata ObjectMeta; 2 spec PersistentVolumeClaimSpec;
    3 status PersistentVolumeClaimStatus
ResourceQuota: 1 metadata ObjectMeta; 2 spec ResourceQuotaSpec; 3 status ResourceQuotaStatus
LimitRange: 1 metadata ObjectMeta; 2 spec LimitRangeSpec
Deployment: 1 metadata ObjectMeta; 2 spec DeploymentSpec; 3 status DeploymentStatus
ReplicaSet: 1 metadata ObjectMeta; 2 spec ReplicaSetSpec; 3 status ReplicaSetStatus
StatefulSet: 1 metadata ObjectMeta; 2 spec StatefulSetSpec; 3 status StatefulSetStatus
DaemonSet: 1 metadata ObjectMeta; 2 spec DaemonSetSpec; 3 status DaemonSetStatus
ControllerRevision: 1 metadata ObjectMeta; 2 data RawExtension; 3 revision int64!
Job: 1 metadata ObjectMeta; 2 spec JobSpec; 3 status JobStatus
CronJob: 1 metadata ObjectMeta; 2 spec CronJobSpec; 3 status CronJobStatus
Role: 1 metadata ObjectMeta; 2 rules []PolicyRule
ClusterRole: 1 metadata ObjectMeta; 2 rules []PolicyRule; 3 aggregationRule AggregationRule
RoleBinding: 1 metadata ObjectMeta; 2 subjects []Subject; 3 roleRef RoleRef
ClusterRoleBinding: 1 metadata ObjectMeta; 2 subjects []Subject; 3 roleRef RoleRef
PodDisruptionBudget: 1 metadata ObjectMeta; 2 spec PodDisruptionBudgetSpec;
    3 status PodDisruptionBudgetStatus
Eviction: 1 metadata ObjectMeta; 2 deleteOptions DeleteOptions
Ingress: 1 metadata ObjectMeta; 2 spec IngressSpec; 3 status IngressStatus
IngressClass: 1 metadata ObjectMeta; 2 spec IngressClassSpec
NetworkPolicy: 1 metadata ObjectMeta; 2 spec NetworkPolicySpec
PriorityClass: 1 metadata ObjectMeta; 2 value int32!; 3 globalDefault bool; 4 description string;
    5 preemptionPolicy string!
StorageClass: 1 metadata ObjectMeta; 2 provisioner string!; 3 parameters map[string]string;
    4 reclaimPolicy string!; 5 mountOptions []string; 6 allowVolumeExpansion bool!;
    7 volumeBindingMode string!; 8 allowedTopologies []TopologySelectorTerm
autoscaling.v1.HorizontalPodAutoscaler: 1 metadata ObjectMeta;
    2 spec autoscaling.v1.HorizontalPodAutoscalerSpec;
    3 status autoscaling.v1.HorizontalPodAutoscalerStatus
Scale: 1 metadata ObjectMeta; 2 spec ScaleSpec; 3 status ScaleStatus
autoscaling.v2.HorizontalPodAutoscaler: 1 metadata ObjectMeta;
    2 spec autoscaling.v2.HorizontalPodAutoscalerSpec;
    3 status autoscaling.v2.HorizontalPodAutoscalerStatus
Lease: 1 metadata ObjectMeta; 2 spec LeaseSpec
DeleteOptions: 1 gracePeriodSeconds int64!; 2 preconditions Preconditions; 3 orphanDependents bool!;
    4 propagationPolicy string!; 5 dryRun []string;
    6 ignoreStoreReadErrorWithClusterBreakingPotential bool!
ObjectMeta: 1 name string; 2 generateName string; 3 namespace string; 4 selfLink string; 5 uid string;
    6 resourceVersion string; 7 generation int64; 8 creationTimestamp Time; 9 deletionTimestamp Time;
    10 deletionGracePeriodSeconds int64!; 11 labels map[string]string;
    12 annotations map[string]string; 13 ownerReferences []OwnerReference; 14 finalizers []string;
    17 managedFields []ManagedFieldsEntry
NamespaceSpec: 1 finalizers []string
NamespaceStatus: 1 phase string; 2 conditions []NamespaceCondition
PodSpec: 1 volumes []Volume; 20 initContainers []Container; 2 containers []Container;
    34 ephemeralContainers []EphemeralContainer; 3 restartPolicy string;
    4 terminationGracePeriodSeconds int64!; 5 activeDeadlineSeconds int64!; 6 dnsPolicy string;
    7 nodeSelector map[string]string; 8 serviceAccountName string; 9 serviceAccount string;
    21 automountServiceAccountToken bool!; 10 nodeName string; 11 hostNetwork bool; 12 hostPID bool;
    13 hostIPC bool; 27 shareProcessNamespace bool!; 14 securityContext PodSecurityContext;
    15 imagePullSecrets []LocalObjectReference; 16 hostname string; 17 subdomain string;
    18 affinity Affinity; 19 schedulerName string; 22 tolerations []Toleration;
    23 hostAliases []HostAlias; 24 priorityClassName string; 25 priority int32!;
    26 dnsConfig PodDNSConfig; 28 readinessGates []PodReadinessGate; 29 runtimeClassName string!;
    30 enableServiceLinks bool!; 31 preemptionPolicy string!; 32 overhead map[string]Quantity;
    33 topologySpreadConstraints []TopologySpreadConstraint; 35 setHostnameAsFQDN bool!; 36 os PodOS;
    37 hostUsers bool!; 38 schedulingGates []PodSchedulingGate; 39 resourceClaims []PodResourceClaim;
    40 resources ResourceRequirements; 41 hostnameOverride string!;
    43 schedulingGroup PodSchedulingGroup; 44 evictionResponders []EvictionResponder
PodStatus: 17 observedGeneration int64; 1 phase string; 2 conditions []PodCondition; 3 message string;
    4 reason string; 11 nominatedNodeName string; 5 hostIP string; 16 hostIPs []HostIP; 6 podIP string;
    12 podIPs []PodIP; 7 startTime Time; 10 initContainerStatuses []ContainerStatus;
    8 containerStatuses []ContainerStatus; 9 qosClass string;
    13 ephemeralContainerStatuses []ContainerStatus; 14 resize string;
    15 resourceClaimStatuses []PodResourceClaimStatus;
    18 extendedResourceClaimStatus PodExtendedResourceClaimStatus;
    19 allocatedResources map[string]Quantity; 20 resources ResourceRequirements;
    21 nodeAllocatableResourceClaimStatuses []NodeAllocatableResourceClaimStatus;
    22 volumeHealth []PodVolumeHealth
ServiceSpec: 1 ports []ServicePort; 2 selector map[string]string; 3 clusterIP string;
    18 clusterIPs []string; 4 type string; 5 externalIPs []string; 7 sessionAffinity string;
    8 loadBalancerIP string; 9 loadBalancerSourceRanges []string; 10 externalName string;
    11 externalTrafficPolicy string; 12 healthCheckNodePort int32; 13 publishNotReadyAddresses bool;
    14 sessionAffinityConfig SessionAffinityConfig; 19 ipFamilies []string; 17 ipFamilyPolicy string!;
    20 allocateLoadBalancerNodePorts bool!; 21 loadBalancerClass string!;
    22 internalTrafficPolicy string!; 23 trafficDistribution string!
ServiceStatus: 1 loadBalancer LoadBalancerStatus; 2 conditions []Condition
EndpointSubset: 1 addresses []EndpointAddress; 2 notReadyAddresses []EndpointAddress;
    3 ports []EndpointPort
ObjectReference: 1 kind string; 2 namespace string; 3 name string; 4 uid string; 5 apiVersion string;
    6 resourceVersion string; 7 fieldPath string
LocalObjectReference: 1 name string
PersistentVolumeClaimSpec: 1 accessModes []string; 4 selector LabelSelector;
    2 resources VolumeResourceRequirements; 3 volumeName string; 5 storageClassName string!;
    6 volumeMode string!; 7 dataSource TypedLocalObjectReference; 8 dataSourceRef TypedObjectReference;
    9 volumeAttributesClassName string!
PersistentVolumeClaimStatus: 1 phase string; 2 accessModes []string; 3 capacity map[string]Quantity;
    4 conditions []PersistentVolumeClaimCondition; 5 allocatedResources map[string]Quantity;
    7 allocatedResourceStatuses map[string]string; 8 currentVolumeAttributesClassName string!;
    9 modifyVolumeStatus ModifyVolumeStatus; 10 healthStatus VolumeHealthStatus
ResourceQuotaSpec: 1 hard map[string]Quantity; 2 scopes []string; 3 scopeSelector ScopeSelector
ResourceQuotaStatus: 1 hard map[string]Quantity; 2 used map[string]Quantity
LimitRangeSpec: 1 limits []LimitRangeItem
DeploymentSpec: 1 replicas int32!; 2 selector LabelSelector; 3 template PodTemplateSpec;
    4 strategy DeploymentStrategy; 5 minReadySeconds int32; 6 revisionHistoryLimit int32!;
    7 paused bool; 9 progressDeadlineSeconds int32!
DeploymentStatus: 1 observedGeneration int64; 2 replicas int32; 3 updatedReplicas int32;
    7 readyReplicas int32; 4 availableReplicas int32; 5 unavailableReplicas int32;
    9 terminatingReplicas int32!; 6 conditions []DeploymentCondition; 8 collisionCount int32!
ReplicaSetSpec: 1 replicas int32!; 4 minReadySeconds int32; 2 selector LabelSelector;
    3 template PodTemplateSpec
ReplicaSetStatus: 1 replicas int32!; 2 fullyLabeledReplicas int32; 4 readyReplicas int32;
    5 availableReplicas int32; 7 terminatingReplicas int32!; 3 observedGeneration int64;
    6 conditions []ReplicaSetCondition
StatefulSetSpec: 1 replicas int32!; 2 selector LabelSelector; 3 template PodTemplateSpec;
    4 volumeClaimTemplates []PersistentVolumeClaim; 5 serviceName string!;
    6 podManagementPolicy string; 7 updateStrategy StatefulSetUpdateStrategy;
    8 revisionHistoryLimit int32!; 9 minReadySeconds int32;
    10 persistentVolumeClaimRetentionPolicy StatefulSetPersistentVolumeClaimRetentionPolicy;
    11 ordinals StatefulSetOrdinals
StatefulSetStatus: 1 observedGeneration int64; 2 replicas int32!; 3 readyReplicas int32;
    4 currentReplicas int32; 5 updatedReplicas int32; 6 currentRevision string;
    7 updateRevision string; 9 collisionCount int32!; 10 conditions []StatefulSetCondition;
    11 availableReplicas int32!
DaemonSetSpec: 1 selector LabelSelector; 2 template PodTemplateSpec;
    3 updateStrategy DaemonSetUpdateStrategy; 4 minReadySeconds int32; 6 revisionHistoryLimit int32!
DaemonSetStatus: 1 currentNumberScheduled int32!; 2 numberMisscheduled int32!;
    3 desiredNumberScheduled int32!; 4 numberReady int32!; 5 observedGeneration int64;
    6 updatedNumberScheduled int32; 7 numberAvailable int32; 8 numberUnavailable int32;
    9 collisionCount int32!; 10 conditions []DaemonSetCondition
JobSpec: 1 parallelism int32!; 2 completions int32!; 3 activeDeadlineSeconds int64!;
    11 podFailurePolicy PodFailurePolicy; 16 successPolicy SuccessPolicy; 7 backoffLimit int32!;
    12 backoffLimitPerIndex int32!; 13 maxFailedIndexes int32!; 4 selector LabelSelector;
    5 manualSelector bool!; 6 template PodTemplateSpec; 8 ttlSecondsAfterFinished int32!;
    9 completionMode string!; 10 suspend bool!; 14 podReplacementPolicy string!; 15 managedBy string!;
    17 scheduling JobSchedulingConfiguration
JobStatus: 1 conditions []JobCondition; 2 startTime Time; 3 completionTime Time; 4 active int32;
    5 succeeded int32; 6 failed int32; 11 terminating int32!; 7 completedIndexes string;
    10 failedIndexes string!; 8 uncountedTerminatedPods UncountedTerminatedPods; 9 ready int32!
CronJobSpec: 1 schedule string!; 8 timeZone string!; 2 startingDeadlineSeconds int64!;
    3 concurrencyPolicy string; 4 suspend bool!; 5 jobTemplate JobTemplateSpec;
    6 successfulJobsHistoryLimit int32!; 7 failedJobsHistoryLimit int32!
CronJobStatus: 1 active []ObjectReference; 4 lastScheduleTime Time; 5 lastSuccessfulTime Time
PolicyRule: 1 verbs []string; 2 apiGroups []string; 3 resources []string; 4 resourceNames []string;
    5 nonResourceURLs []string
AggregationRule: 1 clusterRoleSelectors []LabelSelector
Subject: 1 kind string!; 2 apiGroup string; 3 name string!; 4 namespace string
RoleRef: 1 apiGroup string!; 2 kind string!; 3 name string!
PodDisruptionBudgetSpec: 1 minAvailable IntOrString; 2 selector LabelSelector;
    3 maxUnavailable IntOrString; 4 unhealthyPodEvictionPolicy string!
PodDisruptionBudgetStatus: 1 observedGeneration int64; 2 disruptedPods map[string]Time;
    3 disruptionsAllowed int32!; 4 currentHealthy int32!; 5 desiredHealthy int32!;
    6 expectedPods int32!; 7 conditions []Condition
IngressSpec: 4 ingressClassName string!; 1 defaultBackend IngressBackend; 2 tls []IngressTLS;
    3 rules []IngressRule
IngressStatus: 1 loadBalancer IngressLoadBalancerStatus
IngressClassSpec: 1 controller string; 2 parameters IngressClassParametersReference
NetworkPolicySpec: 1 podSelector LabelSelector; 2 ingress []NetworkPolicyIngressRule;
    3 egress []NetworkPolicyEgressRule; 4 policyTypes []string
TopologySelectorTerm: 1 matchLabelExpressions []TopologySelectorLabelRequirement
autoscaling.v1.HorizontalPodAutoscalerSpec: 1 scaleTargetRef autoscaling.v1.CrossVersionObjectReference;
    2 minReplicas int32!; 3 maxReplicas int32!; 4 targetCPUUtilizationPercentage int32!
autoscaling.v1.HorizontalPodAutoscalerStatus: 1 observedGeneration int64!; 2 lastScaleTime Time;
    3 currentReplicas int32!; 4 desiredReplicas int32!; 5 currentCPUUtilizationPercentage int32!
ScaleSpec: 1 replicas int32
ScaleStatus: 1 replicas int32!; 2 selector string
autoscaling.v2.HorizontalPodAutoscalerSpec: 1 scaleTargetRef autoscaling.v2.CrossVersionObjectReference;
    2 minReplicas int32!; 3 maxReplicas int32!; 4 metrics []MetricSpec;
    5 behavior HorizontalPodAutoscalerBehavior
autoscaling.v2.HorizontalPodAutoscalerStatus: 1 observedGeneration int64!; 2 lastScaleTime Time;
    3 currentReplicas int32; 4 desiredReplicas int32!; 5 currentMetrics []MetricStatus;
    6 conditions []HorizontalPodAutoscalerCondition
LeaseSpec: 1 holderIdentity string!; 2 leaseDurationSeconds int32!; 3 acquireTime MicroTime;
    4 renewTime MicroTime; 5 leaseTransitions int32!; 6 strategy string!; 7 preferredHolder string!
Preconditions: 1 uid string!; 2 resourceVersion string!
OwnerReference: 5 apiVersion string!; 1 kind string!; 3 name string!; 4 uid string!;
    6 controller bool!; 7 blockOwnerDeletion bool!
ManagedFieldsEntry: 1 manager string; 2 operation string; 3 apiVersion string; 4 time Time;
    6 fieldsType string; 7 fieldsV1 FieldsV1; 8 subresource string
NamespaceCondition: 1 type string!; 2 status string!; 4 lastTransitionTime Time; 5 reason string;
    6 message string
Volume: 1 name string!; 2 ... VolumeSource
Container: 1 name string!; 2 image string; 3 command []string; 4 args []string; 5 workingDir string;
    6 ports []ContainerPort; 19 envFrom []EnvFromSource; 7 env []EnvVar;
    8 resources ResourceRequirements; 23 resizePolicy []ContainerResizePolicy;
    24 restartPolicy string!; 25 restartPolicyRules []ContainerRestartRule;
    9 volumeMounts []VolumeMount; 21 volumeDevices []VolumeDevice; 10 livenessProbe Probe;
    11 readinessProbe Probe; 22 startupProbe Probe; 12 lifecycle Lifecycle;
    13 terminationMessagePath string; 20 terminationMessagePolicy string; 14 imagePullPolicy string;
    15 securityContext SecurityContext; 16 stdin bool; 17 stdinOnce bool; 18 tty bool
EphemeralContainer: 1 ... EphemeralContainerCommon; 2 targetContainerName string
PodSecurityContext: 1 seLinuxOptions SELinuxOptions; 8 windowsOptions WindowsSecurityContextOptions;
    2 runAsUser int64!; 6 runAsGroup int64!; 3 runAsNonRoot bool!; 4 supplementalGroups []int64;
    12 supplementalGroupsPolicy string!; 5 fsGroup int64!; 7 sysctls []Sysctl;
    9 fsGroupChangePolicy string!; 10 seccompProfile SeccompProfile;
    11 appArmorProfile AppArmorProfile; 13 seLinuxChangePolicy string!
Affinity: 1 nodeAffinity NodeAffinity; 2 podAffinity PodAffinity; 3 podAntiAffinity PodAntiAffinity
Toleration: 1 key string; 2 operator string; 3 value string; 4 effect string;
    5 tolerationSeconds int64!
HostAlias: 1 ip string!; 2 hostnames []string
PodDNSConfig: 1 nameservers []string; 2 searches []string; 3 options []PodDNSConfigOption
PodReadinessGate: 1 conditionType string!
TopologySpreadConstraint: 1 maxSkew int32!; 2 topologyKey string!; 3 whenUnsatisfiable string!;
    4 labelSelector LabelSelector; 5 minDomains int32!; 6 nodeAffinityPolicy string!;
    7 nodeTaintsPolicy string!; 8 matchLabelKeys []string
PodOS: 1 name string!
PodSchedulingGate: 1 name string!
PodResourceClaim: 1 name string!; 3 resourceClaimName string!; 4 resourceClaimTemplateName string!
ResourceRequirements: 1 limits map[string]Quantity; 2 requests map[string]Quantity;
    3 claims []ResourceClaim
PodSchedulingGroup: 1 podGroupName string!
EvictionResponder: 1 name string!; 2 priority int32!
PodCondition: 1 type string!; 7 observedGeneration int64; 2 status string!; 3 lastProbeTime Time;
    4 lastTransitionTime Time; 5 reason string; 6 message string
HostIP: 1 ip string!
PodIP: 1 ip string!
ContainerStatus: 1 name string!; 2 state ContainerState; 3 lastState ContainerState; 4 ready bool!;
    5 restartCount int32!; 6 image string!; 7 imageID string!; 8 containerID string; 9 started bool!;
    10 allocatedResources map[string]Quantity; 11 resources ResourceRequirements;
    12 volumeMounts []VolumeMountStatus; 13 user ContainerUser;
    14 allocatedResourcesStatus []ResourceStatus; 15 stopSignal string!
PodResourceClaimStatus: 1 name string!; 2 resourceClaimName string!
PodExtendedResourceClaimStatus: 1 requestMappings []ContainerExtendedResourceRequest;
    2 resourceClaimName string!
NodeAllocatableResourceClaimStatus: 1 resourceClaimName string!; 2 containers []string;
    4 mapping []NodeAllocatableMappedResources; 5 overhead []NodeAllocatableOverheadResources
PodVolumeHealth: 1 name string!; 2 healthConditions []VolumeHealthCondition; 3 lastTransitionTime Time
ServicePort: 1 name string; 2 protocol string; 6 appProtocol string!; 3 port int32!;
    4 targetPort IntOrString; 5 nodePort int32
SessionAffinityConfig: 1 clientIP ClientIPConfig
LoadBalancerStatus: 1 ingress []LoadBalancerIngress
Condition: 1 type string!; 2 status string!; 3 observedGeneration int64; 4 lastTransitionTime Time;
    5 reason string!; 6 message string!
EndpointAddress: 1 ip string!; 3 hostname string; 4 nodeName string!; 2 targetRef ObjectReference
EndpointPort: 1 name string; 2 port int32!; 3 protocol string; 4 appProtocol string!
LabelSelector: 1 matchLabels map[string]string; 2 matchExpressions []LabelSelectorRequirement
VolumeResourceRequirements: 1 limits map[string]Quantity; 2 requests map[string]Quantity
TypedLocalObjectReference: 1 apiGroup string!; 2 kind string!; 3 name string!
TypedObjectReference: 1 apiGroup string!; 2 kind string!; 3 name string!; 4 namespace string!
PersistentVolumeClaimCondition: 1 type string!; 2 status string!; 3 lastProbeTime Time;
    4 lastTransitionTime Time; 5 reason string; 6 message string
ModifyVolumeStatus: 1 targetVolumeAttributesClassName string; 2 status string!
VolumeHealthStatus: 1 healthConditions []VolumeHealthCondition; 2 lastTransitionTime Time
ScopeSelector: 1 matchExpressions []ScopedResourceSelectorRequirement
LimitRangeItem: 1 type string!; 2 max map[string]Quantity; 3 min map[string]Quantity;
    4 default map[string]Quantity; 5 defaultRequest map[string]Quantity;
    6 maxLimitRequestRatio map[string]Quantity
PodTemplateSpec: 1 metadata ObjectMeta; 2 spec PodSpec
DeploymentStrategy: 1 type string; 2 rollingUpdate RollingUpdateDeployment
DeploymentCondition: 1 type string!; 2 status string!; 6 lastUpdateTime Time;
    7 lastTransitionTime Time; 4 reason string; 5 message string
ReplicaSetCondition: 1 type string!; 2 status string!; 3 lastTransitionTime Time; 4 reason string;
    5 message string
StatefulSetUpdateStrategy: 1 type string; 2 rollingUpdate RollingUpdateStatefulSetStrategy
StatefulSetPersistentVolumeClaimRetentionPolicy: 1 whenDeleted string; 2 whenScaled string
StatefulSetOrdinals: 1 start int32!
StatefulSetCondition: 1 type string!; 2 status string!; 3 lastTransitionTime Time; 4 reason string;
    5 message string
DaemonSetUpdateStrategy: 1 type string; 2 rollingUpdate RollingUpdateDaemonSet
DaemonSetCondition: 1 type string!; 2 status string!; 3 lastTransitionTime Time; 4 reason string;
    5 message string
PodFailurePolicy: 1 rules []PodFailurePolicyRule
SuccessPolicy: 1 rules []SuccessPolicyRule
JobSchedulingConfiguration:
JobCondition: 1 type string!; 2 status string!; 3 lastProbeTime Time; 4 lastTransitionTime Time;
    5 reason string; 6 message string
UncountedTerminatedPods: 1 succeeded []string; 2 failed []string
JobTemplateSpec: 1 metadata ObjectMeta; 2 spec JobSpec
IngressBackend: 4 service IngressServiceBackend; 3 resource TypedLocalObjectReference
IngressTLS: 1 hosts []string; 2 secretName string
IngressRule: 1 host string; 2 ... IngressRuleValue
IngressLoadBalancerStatus: 1 ingress []IngressLoadBalancerIngress
IngressClassParametersReference: 1 apiGroup string!; 2 kind string!; 3 name string!; 4 scope string!;
    5 namespace string!
NetworkPolicyIngressRule: 1 ports []NetworkPolicyPort; 2 from []NetworkPolicyPeer
NetworkPolicyEgressRule: 1 ports []NetworkPolicyPort; 2 to []NetworkPolicyPeer
TopologySelectorLabelRequirement: 1 key string!; 2 values []string
autoscaling.v1.CrossVersionObjectReference: 1 kind string!; 2 name string!; 3 apiVersion string
autoscaling.v2.CrossVersionObjectReference: 1 kind string!; 2 name string!; 3 apiVersion string
MetricSpec: 1 type string!; 2 object ObjectMetricSource; 3 pods PodsMetricSource;
    4 resource ResourceMetricSource; 7 containerResource ContainerResourceMetricSource;
    5 external ExternalMetricSource
HorizontalPodAutoscalerBehavior: 1 scaleUp HPAScalingRules; 2 scaleDown HPAScalingRules
MetricStatus: 1 type string!; 2 object ObjectMetricStatus; 3 pods PodsMetricStatus;
    4 resource ResourceMetricStatus; 7 containerResource ContainerResourceMetricStatus;
    5 external ExternalMetricStatus
HorizontalPodAutoscalerCondition: 1 type string!; 2 status string!; 3 lastTransitionTime Time;
    4 reason string; 5 message string; 6 observedGeneration int64!
VolumeSource: 1 hostPath HostPathVolumeSource; 2 emptyDir EmptyDirVolumeSource;
    3 gcePersistentDisk GCEPersistentDiskVolumeSource;
    4 awsElasticBlockStore AWSElasticBlockStoreVolumeSource; 5 gitRepo GitRepoVolumeSource;
    6 secret SecretVolumeSource; 7 nfs NFSVolumeSource; 8 iscsi ISCSIVolumeSource;
    9 glusterfs GlusterfsVolumeSource; 10 persistentVolumeClaim PersistentVolumeClaimVolumeSource;
    11 rbd RBDVolumeSource; 12 flexVolume FlexVolumeSource; 13 cinder CinderVolumeSource;
    14 cephfs CephFSVolumeSource; 15 flocker FlockerVolumeSource;
    16 downwardAPI DownwardAPIVolumeSource; 17 fc FCVolumeSource; 18 azureFile AzureFileVolumeSource;
    19 configMap ConfigMapVolumeSource; 20 vsphereVolume VsphereVirtualDiskVolumeSource;
    21 quobyte QuobyteVolumeSource; 22 azureDisk AzureDiskVolumeSource;
    23 photonPersistentDisk PhotonPersistentDiskVolumeSource; 26 projected ProjectedVolumeSource;
    24 portworxVolume PortworxVolumeSource; 25 scaleIO ScaleIOVolumeSource;
    27 storageos StorageOSVolumeSource; 28 csi CSIVolumeSource; 29 ephemeral EphemeralVolumeSource;
    30 image ImageVolumeSource
ContainerPort: 1 name string; 2 hostPort int32; 3 containerPort int32!; 4 protocol string;
    5 hostIP string
EnvFromSource: 1 prefix string; 2 configMapRef ConfigMapEnvSource; 3 secretRef SecretEnvSource
EnvVar: 1 name string!; 2 value string; 3 valueFrom EnvVarSource
ContainerResizePolicy: 1 resourceName string!; 2 restartPolicy string!
ContainerRestartRule: 1 action string; 2 exitCodes ContainerRestartRuleOnExitCodes
VolumeMount: 1 name string!; 2 readOnly bool; 7 recursiveReadOnly string!; 3 mountPath string!;
    4 subPath string; 5 mountPropagation string!; 6 subPathExpr string; 8 bindMountOptions []string
VolumeDevice: 1 name string!; 2 devicePath string!
Probe: 1 ... ProbeHandler; 2 initialDelaySeconds int32; 3 timeoutSeconds int32; 4 periodSeconds int32;
    5 successThreshold int32; 6 failureThreshold int32; 7 terminationGracePeriodSeconds int64!
Lifecycle: 1 postStart LifecycleHandler; 2 preStop LifecycleHandler; 3 stopSignal string!
SecurityContext: 1 capabilities Capabilities; 2 privileged bool!; 3 seLinuxOptions SELinuxOptions;
    10 windowsOptions WindowsSecurityContextOptions; 4 runAsUser int64!; 8 runAsGroup int64!;
    5 runAsNonRoot bool!; 6 readOnlyRootFilesystem bool!; 7 allowPrivilegeEscalation bool!;
    9 procMount string!; 11 seccompProfile SeccompProfile; 12 appArmorProfile AppArmorProfile
EphemeralContainerCommon: 1 name string!; 2 image string; 3 command []string; 4 args []string;
    5 workingDir string; 6 ports []ContainerPort; 19 envFrom []EnvFromSource; 7 env []EnvVar;
    8 resources ResourceRequirements; 23 resizePolicy []ContainerResizePolicy;
    24 restartPolicy string!; 25 restartPolicyRules []ContainerRestartRule;
    9 volumeMounts []VolumeMount; 21 volumeDevices []VolumeDevice; 10 livenessProbe Probe;
    11 readinessProbe Probe; 22 startupProbe Probe; 12 lifecycle Lifecycle;
    13 terminationMessagePath string; 20 terminationMessagePolicy string; 14 imagePullPolicy string;
    15 securityContext SecurityContext; 16 stdin bool; 17 stdinOnce bool; 18 tty bool
SELinuxOptions: 1 user string; 2 role string; 3 type string; 4 level string
WindowsSecurityContextOptions: 1 gmsaCredentialSpecName string!; 2 gmsaCredentialSpec string!;
    3 runAsUserName string!; 4 hostProcess bool!
Sysctl: 1 name string!; 2 value string!
SeccompProfile: 1 type string!; 2 localhostProfile string!
AppArmorProfile: 1 type string!; 2 localhostProfile string!
NodeAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution NodeSelector;
    2 preferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm
PodAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm;
    2 preferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm
PodAntiAffinity: 1 requiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm;
    2 preferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm
PodDNSConfigOption: 1 name string; 2 value string!
ResourceClaim: 1 name string!; 2 request string
ContainerState: 1 waiting ContainerStateWaiting; 2 running ContainerStateRunning;
    3 terminated ContainerStateTerminated
VolumeMountStatus: 1 name string!; 2 mountPath string!; 3 readOnly bool; 4 recursiveReadOnly string!;
    5 volumeStatus VolumeStatus
ContainerUser: 1 linux LinuxContainerUser
ResourceStatus: 1 name string!; 2 resources []ResourceHealth
ContainerExtendedResourceRequest: 1 containerName string!; 2 resourceName string!;
    3 requestName string!
NodeAllocatableMappedResources: 1 name string!; 2 quantity Quantity
NodeAllocatableOverheadResources: 1 name string!; 2 perPod Quantity; 3 perContainer Quantity
VolumeHealthCondition: 1 status string!; 2 reason string!; 3 message string
ClientIPConfig: 1 timeoutSeconds int32!
LoadBalancerIngress: 1 ip string; 2 hostname string; 3 ipMode string!; 4 ports []PortStatus
LabelSelectorRequirement: 1 key string!; 2 operator string!; 3 values []string
ScopedResourceSelectorRequirement: 1 scopeName string!; 2 operator string!; 3 values []string
RollingUpdateDeployment: 1 maxUnavailable IntOrString; 2 maxSurge IntOrString
RollingUpdateStatefulSetStrategy: 1 partition int32!; 2 maxUnavailable IntOrString
RollingUpdateDaemonSet: 1 maxUnavailable IntOrString; 2 maxSurge IntOrString
PodFailurePolicyRule: 1 action string!; 2 onExitCodes PodFailurePolicyOnExitCodesRequirement;
    3 onPodConditions []PodFailurePolicyOnPodConditionsPattern
SuccessPolicyRule: 1 succeededIndexes string!; 2 succeededCount int32!
IngressServiceBackend: 1 name string!; 2 port ServiceBackendPort
IngressRuleValue: 1 http HTTPIngressRuleValue
IngressLoadBalancerIngress: 1 ip string; 2 hostname string; 4 ports []IngressPortStatus
NetworkPolicyPort: 1 protocol string!; 2 port IntOrString; 3 endPort int32!
NetworkPolicyPeer: 1 podSelector LabelSelector; 2 namespaceSelector LabelSelector; 3 ipBlock IPBlock
ObjectMetricSource: 1 describedObject autoscaling.v2.CrossVersionObjectReference;
    2 target MetricTarget; 3 metric MetricIdentifier
PodsMetricSource: 1 metric MetricIdentifier; 2 target MetricTarget
ResourceMetricSource: 1 name string!; 2 target MetricTarget
ContainerResourceMetricSource: 1 name string!; 2 target MetricTarget; 3 container string!
ExternalMetricSource: 1 metric MetricIdentifier; 2 target MetricTarget
HPAScalingRules: 3 stabilizationWindowSeconds int32!; 1 selectPolicy string!;
    2 policies []HPAScalingPolicy; 4 tolerance Quantity
ObjectMetricStatus: 1 metric MetricIdentifier; 2 current MetricValueStatus;
    3 describedObject autoscaling.v2.CrossVersionObjectReference
PodsMetricStatus: 1 metric MetricIdentifier; 2 current MetricValueStatus
ResourceMetricStatus: 1 name string!; 2 current MetricValueStatus
ContainerResourceMetricStatus: 1 name string!; 2 current MetricValueStatus; 3 container string!
ExternalMetricStatus: 1 metric MetricIdentifier; 2 current MetricValueStatus
HostPathVolumeSource: 1 path string!; 2 type string!
EmptyDirVolumeSource: 1 medium string; 2 sizeLimit Quantity; 3 mode int32!
GCEPersistentDiskVolumeSource: 1 pdName string!; 2 fsType string; 3 partition int32; 4 readOnly bool
AWSElasticBlockStoreVolumeSource: 1 volumeID string!; 2 fsType string; 3 partition int32;
    4 readOnly bool
GitRepoVolumeSource: 1 repository string!; 2 revision string; 3 directory string
SecretVolumeSource: 1 secretName string; 2 items []KeyToPath; 3 defaultMode int32!; 4 optional bool!;
    5 defaultUser int64!
NFSVolumeSource: 1 server string!; 2 path string!; 3 readOnly bool
ISCSIVolumeSource: 1 targetPortal string!; 2 iqn string!; 3 lun int32!; 4 iscsiInterface string;
    5 fsType string; 6 readOnly bool; 7 portals []string; 8 chapAuthDiscovery bool;
    11 chapAuthSession bool; 10 secretRef LocalObjectReference; 12 initiatorName string!
GlusterfsVolumeSource: 1 endpoints string!; 2 path string!; 3 readOnly bool
PersistentVolumeClaimVolumeSource: 1 claimName string!; 2 readOnly bool
RBDVolumeSource: 1 monitors []string; 2 image string!; 3 fsType string; 4 pool string; 5 user string;
    6 keyring string; 7 secretRef LocalObjectReference; 8 readOnly bool
FlexVolumeSource: 1 driver string!; 2 fsType string; 3 secretRef LocalObjectReference; 4 readOnly bool;
    5 options map[string]string
CinderVolumeSource: 1 volumeID string!; 2 fsType string; 3 readOnly bool;
    4 secretRef LocalObjectReference
CephFSVolumeSource: 1 monitors []string; 2 path string; 3 user string; 4 secretFile string;
    5 secretRef LocalObjectReference; 6 readOnly bool
FlockerVolumeSource: 1 datasetName string; 2 datasetUUID string
DownwardAPIVolumeSource: 1 items []DownwardAPIVolumeFile; 2 defaultMode int32!; 3 defaultUser int64!
FCVolumeSource: 1 targetWWNs []string; 2 lun int32!; 3 fsType string; 4 readOnly bool;
    5 wwids []string
AzureFileVolumeSource: 1 secretName string!; 2 shareName string!; 3 readOnly bool
ConfigMapVolumeSource: 1 ... LocalObjectReference; 2 items []KeyToPath; 3 defaultMode int32!;
    4 optional bool!; 5 defaultUser int64!
VsphereVirtualDiskVolumeSource: 1 volumePath string!; 2 fsType string; 3 storagePolicyName string;
    4 storagePolicyID string
QuobyteVolumeSource: 1 registry string!; 2 volume string!; 3 readOnly bool; 4 user string;
    5 group string; 6 tenant string
AzureDiskVolumeSource: 1 diskName string!; 2 diskURI string!; 3 cachingMode string!; 4 fsType string!;
    5 readOnly bool!; 6 kind string!
PhotonPersistentDiskVolumeSource: 1 pdID string!; 2 fsType string
ProjectedVolumeSource: 1 sources []VolumeProjection; 2 defaultMode int32!; 3 defaultUser int64!
PortworxVolumeSource: 1 volumeID string!; 2 fsType string; 3 readOnly bool
ScaleIOVolumeSource: 1 gateway string!; 2 system string!; 3 secretRef LocalObjectReference;
    4 sslEnabled bool; 5 protectionDomain string; 6 storagePool string; 7 storageMode string;
    8 volumeName string; 9 fsType string; 10 readOnly bool
StorageOSVolumeSource: 1 volumeName string; 2 volumeNamespace string; 3 fsType string; 4 readOnly bool;
    5 secretRef LocalObjectReference
CSIVolumeSource: 1 driver string!; 2 readOnly bool!; 3 fsType string!;
    4 volumeAttributes map[string]string; 5 nodePublishSecretRef LocalObjectReference
EphemeralVolumeSource: 1 volumeClaimTemplate PersistentVolumeClaimTemplate
ImageVolumeSource: 1 reference string; 2 pullPolicy string
ConfigMapEnvSource: 1 ... LocalObjectReference; 2 optional bool!
SecretEnvSource: 1 ... LocalObjectReference; 2 optional bool!
EnvVarSource: 1 fieldRef ObjectFieldSelector; 2 resourceFieldRef ResourceFieldSelector;
    3 configMapKeyRef ConfigMapKeySelector; 4 secretKeyRef SecretKeySelector;
    5 fileKeyRef FileKeySelector
ContainerRestartRuleOnExitCodes: 1 operator string; 2 values []int32
ProbeHandler: 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction;
    4 grpc GRPCAction
LifecycleHandler: 1 exec ExecAction; 2 httpGet HTTPGetAction; 3 tcpSocket TCPSocketAction;
    4 sleep SleepAction
Capabilities: 1 add []string; 2 drop []string
NodeSelector: 1 nodeSelectorTerms []NodeSelectorTerm
PreferredSchedulingTerm: 1 weight int32!; 2 preference NodeSelectorTerm
PodAffinityTerm: 1 labelSelector LabelSelector; 2 namespaces []string; 3 topologyKey string!;
    4 namespaceSelector LabelSelector; 5 matchLabelKeys []string; 6 mismatchLabelKeys []string
WeightedPodAffinityTerm: 1 weight int32!; 2 podAffinityTerm PodAffinityTerm
ContainerStateWaiting: 1 reason string; 2 message string
ContainerStateRunning: 1 startedAt Time
ContainerStateTerminated: 1 exitCode int32!; 2 signal int32; 3 reason string; 4 message string;
    5 startedAt Time; 6 finishedAt Time; 7 containerID string
VolumeStatus: 1 image ImageVolumeStatus
LinuxContainerUser: 1 uid int64!; 2 gid int64!; 3 supplementalGroups []int64
ResourceHealth: 1 resourceID string!; 2 health string; 6 message string!
PortStatus: 1 port int32!; 2 protocol string!; 3 error string!
PodFailurePolicyOnExitCodesRequirement: 1 containerName string!; 2 operator string!; 3 values []int32
PodFailurePolicyOnPodConditionsPattern: 1 type string!; 2 status string!
ServiceBackendPort: 1 name string; 2 number int32
HTTPIngressRuleValue: 1 paths []HTTPIngressPath
IngressPortStatus: 1 port int32!; 2 protocol string!; 3 error string!
IPBlock: 1 cidr string!; 2 except []string
MetricTarget: 1 type string!; 2 value Quantity; 3 averageValue Quantity; 4 averageUtilization int32!
MetricIdentifier: 1 name string!; 2 selector LabelSelector
HPAScalingPolicy: 1 type string!; 2 value int32!; 3 periodSeconds int32!
MetricValueStatus: 1 value Quantity; 2 averageValue Quantity; 3 averageUtilization int32!
KeyToPath: 1 key string!; 2 path string!; 3 mode int32!; 4 user int64!
DownwardAPIVolumeFile: 1 path string!; 2 fieldRef ObjectFieldSelector;
    3 resourceFieldRef ResourceFieldSelector; 4 mode int32!; 5 user int64!
VolumeProjection: 1 secret SecretProjection; 2 downwardAPI DownwardAPIProjection;
    3 configMap ConfigMapProjection; 4 serviceAccountToken ServiceAccountTokenProjection;
    5 clusterTrustBundle ClusterTrustBundleProjection; 6 podCertificate PodCertificateProjection
PersistentVolumeClaimTemplate: 1 metadata ObjectMeta; 2 spec PersistentVolumeClaimSpec
ObjectFieldSelector: 1 apiVersion string; 2 fieldPath string!
ResourceFieldSelector: 1 containerName string; 2 resource string!; 3 divisor Quantity
ConfigMapKeySelector: 1 ... LocalObjectReference; 2 key string!; 3 optional bool!
SecretKeySelector: 1 ... LocalObjectReference; 2 key string!; 3 optional bool!
FileKeySelector: 1 volumeName string!; 2 path string!; 3 key string!; 4 optional bool!
ExecAction: 1 command []string
HTTPGetAction: 1 path string; 2 port IntOrString; 3 host string; 4 scheme string;
    5 httpHeaders []HTTPHeader; 6 protocol string!
TCPSocketAction: 1 port IntOrString; 2 host string
GRPCAction: 1 port int32!; 2 service string!; 3 mode string!
SleepAction: 1 seconds int64!
NodeSelectorTerm: 1 matchExpressions []NodeSelectorRequirement;
    2 matchFields []NodeSelectorRequirement
ImageVolumeStatus: 1 imageRef string
HTTPIngressPath: 1 path string; 3 pathType string!; 2 backend IngressBackend
SecretProjection: 1 ... LocalObjectReference; 2 items []KeyToPath; 4 optional bool!
DownwardAPIProjection: 1 items []DownwardAPIVolumeFile
ConfigMapProjection: 1 ... LocalObjectReference; 2 items []KeyToPath; 4 optional bool!
ServiceAccountTokenProjection: 1 audience string; 2 expirationSeconds int64!; 3 path string!;
    4 user int64!
ClusterTrustBundleProjection: 1 name string!; 2 signerName string!; 3 labelSelector LabelSelector;
    5 optional bool!; 4 path string!; 6 user int64!
PodCertificateProjection: 1 signerName string; 2 keyType string; 3 maxExpirationSeconds int32!;
    4 credentialBundlePath string; 5 keyPath string; 6 certificateChainPath string;
    7 userAnnotations map[string]string; 8 user int64!
HTTPHeader: 1 name string!; 2 value string!
NodeSelectorRequirement: 1 key string!; 2 operator string!; 3 values []string
"""

KINDS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "Namespace",
    ("v1", "Pod"): "Pod",
    ("v1", "Service"): "Service",
    ("v1", "Endpoints"): "Endpoints",
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "ServiceAccount"): "ServiceAccount",
    ("v1", "PersistentVolumeClaim"): "PersistentVolumeClaim",
    ("v1", "ResourceQuota"): "ResourceQuota",
    ("v1", "LimitRange"): "LimitRange",
    ("apps/v1", "Deployment"): "Deployment",
    ("apps/v1", "ReplicaSet"): "ReplicaSet",
    ("apps/v1", "StatefulSet"): "StatefulSet",
    ("apps/v1", "DaemonSet"): "DaemonSet",
    ("apps/v1", "ControllerRevision"): "ControllerRevision",
    ("batch/v1", "Job"): "Job",
    ("batch/v1", "CronJob"): "CronJob",
    ("rbac.authorization.k8s.io/v1", "Role"): "Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "ClusterRoleBinding",
    ("policy/v1", "PodDisruptionBudget"): "PodDisruptionBudget",
    ("policy/v1", "Eviction"): "Eviction",
    ("networking.k8s.io/v1", "Ingress"): "Ingress",
    ("networking.k8s.io/v1", "IngressClass"): "IngressClass",
    ("networking.k8s.io/v1", "NetworkPolicy"): "NetworkPolicy",
    ("scheduling.k8s.io/v1", "PriorityClass"): "PriorityClass",
    ("storage.k8s.io/v1", "StorageClass"): "StorageClass",
    ("autoscaling/v1", "HorizontalPodAutoscaler"): "autoscaling.v1.HorizontalPodAutoscaler",
    ("autoscaling/v1", "Scale"): "Scale",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "autoscaling.v2.HorizontalPodAutoscaler",
    ("coordination.k8s.io/v1", "Lease"): "Lease",
}
"""(apiVersion, kind) of a protobuf envelope → the `SCHEMA` message of its raw bytes."""

ANY_VERSION_KINDS = {"DeleteOptions": "DeleteOptions"}
"""Kinds registered in every group version: clients tag DeleteOptions with the resource's group version."""


def _parse_schema(source: str) -> dict[str, dict[int, Field]]:
    entries: list[str] = []
    for line in source.splitlines():
        if not line.strip():
            continue
        if line[0].isspace():
            entries[-1] += " " + line.strip()
        else:
            entries.append(line.strip())
    schema: dict[str, dict[int, Field]] = {}
    for entry in entries:
        name, _, body = entry.partition(":")
        fields: dict[int, Field] = {}
        for spec in filter(str.strip, body.split(";")):
            number, json_name, typ = spec.split()
            keep_zero = typ.endswith("!")
            typ = typ.rstrip("!")
            if typ.startswith("[]"):
                fields[int(number)] = Field(json_name, typ[2:], REPEATED)
            elif typ.startswith("map[string]"):
                fields[int(number)] = Field(json_name, typ[len("map[string]") :], MAP)
            else:
                fields[int(number)] = Field(json_name, typ, SINGLE, keep_zero)
        schema[name] = fields
    return schema


SCHEMA: dict[str, dict[int, Field]] = _parse_schema(_SCHEMA_SOURCE)
"""Message name → {field number: Field}."""


def is_protobuf(content_type: str | None) -> bool:
    """Whether a Content-Type (parameters allowed) names the Kubernetes protobuf encoding."""
    return (content_type or "").split(";", 1)[0].strip().lower() == PROTOBUF_CONTENT_TYPE


def decode(body: bytes) -> dict:
    """The object in a protobuf request body, as the JSON dict the REST API uses (apiVersion and kind set)."""
    body = bytes(body)
    if len(body) > MAX_BODY_BYTES:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY_BYTES}")
    if not body.startswith(MAGIC):
        raise errors.BadRequest(
            "the protobuf request body does not start with the Kubernetes prefix k8s\\x00; "
            "send application/vnd.kubernetes.protobuf envelopes or application/json"
        )
    api_version, kind, raw, encoding = _envelope(body, len(MAGIC), len(body))
    if not kind:
        raise errors.BadRequest("Object 'Kind' is missing in the protobuf envelope")
    if encoding:
        raise errors.UnsupportedMediaType(
            f"protobuf envelopes with contentEncoding {encoding!r} are not supported; send application/json"
        )
    message = ANY_VERSION_KINDS.get(kind) or KINDS.get((api_version, kind))
    if message is None:
        raise errors.UnsupportedMediaType(
            f"the sandbox cannot decode {kind} ({api_version or 'no apiVersion'}) from protobuf; "
            "send the request body as application/json"
        )
    obj: dict = {"apiVersion": api_version, "kind": kind}
    start, end = raw
    try:
        obj.update(_message(body, start, end, message, 1))
    except RecursionError as e:
        raise errors.BadRequest("the protobuf request body is nested too deeply") from e
    return obj


def _bad(what: str) -> errors.BadRequest:
    return errors.BadRequest(f"malformed protobuf request body: {what}")


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """A base-128 varint at `pos`: (value, position after it). At most 10 bytes, at most 64 bits."""
    result = shift = 0
    for i in range(10):
        if pos >= end:
            raise _bad("truncated varint")
        b = buf[pos]
        pos += 1
        if i == 9 and b > 1:
            raise _bad("varint longer than 64 bits")
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
    raise _bad("varint longer than 10 bytes")  # unreachable: the 10th byte either ends it or fails above


def _fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value, end) of each field in buf[pos:end].

    For varint and fixed-width fields `value` is the integer; for length-delimited fields it is the start
    of the payload and `end` its end. Every step consumes at least one byte, so this always terminates.
    """
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0 or number > 0x1FFFFFFF:
            raise _bad(f"invalid field number {number}")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _bad(f"truncated fixed-width field {number}")
            value = int.from_bytes(buf[pos : pos + size], "little")
            pos += size
            yield number, wire, value, pos
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise _bad(f"field {number} is longer than its enclosing message")
            yield number, wire, pos, pos + length
            pos += length
        else:
            raise _bad(f"unsupported wire type {wire} for field {number}")


def _envelope(buf: bytes, pos: int, end: int) -> tuple[str, str, tuple[int, int], str]:
    api_version = kind = encoding = ""
    raw = (end, end)
    for number, wire, value, stop in _fields(buf, pos, end):
        if number == 1:
            _expect(wire, 2, "runtime.Unknown typeMeta")
            for n, w, v, s in _fields(buf, value, stop):
                if n in (1, 2):
                    _expect(w, 2, "TypeMeta")
                    if n == 1:
                        api_version = _text(buf, v, s)
                    else:
                        kind = _text(buf, v, s)
        elif number == 2:
            _expect(wire, 2, "runtime.Unknown raw")
            raw = (value, stop)
        elif number == 3:
            _expect(wire, 2, "runtime.Unknown contentEncoding")
            encoding = _text(buf, value, stop)
    return api_version, kind, raw, encoding


def _expect(wire: int, wanted: int, what: str) -> None:
    if wire != wanted:
        raise _bad(f"wrong wire type {wire} for {what}")


def _text(buf: bytes, start: int, end: int) -> str:
    try:
        return buf[start:end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise _bad("a string field is not valid UTF-8") from e


_WIRE = {"string": 2, "bytes": 2, "bool": 0, "int32": 0, "int64": 0, "double": 1}
_OMIT = object()
"""A decoded value JSON would not contain (zero time, empty RawExtension)."""


def _message(buf: bytes, start: int, end: int, name: str, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise errors.BadRequest("the protobuf request body is nested too deeply")
    fields = SCHEMA[name]
    out: dict = {}
    for number, wire, value, stop in _fields(buf, start, end):
        field = fields.get(number)
        if field is None:
            continue
        key = field.json_name
        if field.cardinality == MAP:
            _expect(wire, 2, f"{name}.{key}")
            k, v = _map_entry(buf, value, stop, field, depth)
            out.setdefault(key, {})[k] = v
        elif field.cardinality == REPEATED:
            items = out.setdefault(key, [])
            if wire == 2 and field.type in ("bool", "int32", "int64", "double"):
                items.extend(_packed(buf, value, stop, field.type))
            else:
                decoded = _value(buf, wire, value, stop, field.type, f"{name}.{key}", depth)
                if decoded is not _OMIT:
                    items.append(decoded)
        else:
            decoded = _value(buf, wire, value, stop, field.type, f"{name}.{key}", depth)
            if key == INLINE:
                out.update(decoded)
            elif decoded is _OMIT or (
                field.type in SCALARS and not field.keep_zero and decoded in ("", 0, False)
            ):
                out.pop(key, None)
            else:
                out[key] = decoded
    return out


def _map_entry(buf: bytes, start: int, end: int, field: Field, depth: int) -> tuple[str, object]:
    key, value = "", None
    for number, wire, v, stop in _fields(buf, start, end):
        if number == 1:
            _expect(wire, 2, f"{field.json_name} key")
            key = _text(buf, v, stop)
        elif number == 2:
            value = _value(buf, wire, v, stop, field.type, f"{field.json_name}[{key}]", depth)
    if value is None or value is _OMIT:
        value = _ZERO.get(field.type, {})  # a missing value is the type's zero value; zero times are null
    return key, value


_ZERO: dict[str, object] = {
    "string": "",
    "bytes": "",
    "bool": False,
    "int32": 0,
    "int64": 0,
    "double": 0.0,
    "Quantity": "0",
    "IntOrString": 0,
    "Time": None,
    "MicroTime": None,
    "RawExtension": None,
    "FieldsV1": None,
}


def _packed(buf: bytes, pos: int, end: int, typ: str) -> list:
    out = []
    while pos < end:
        if typ == "double":
            if pos + 8 > end:
                raise _bad("truncated packed double")
            out.append(_scalar(int.from_bytes(buf[pos : pos + 8], "little"), typ))
            pos += 8
        else:
            value, pos = _varint(buf, pos, end)
            out.append(_scalar(value, typ))
    return out


def _scalar(value: int, typ: str) -> object:
    if typ == "int32":
        value &= 0xFFFFFFFF
        return value - (1 << 32) if value >= 1 << 31 else value
    if typ == "int64":
        return value - (1 << 64) if value >= 1 << 63 else value
    if typ == "bool":
        return value != 0
    number = struct.unpack("<d", value.to_bytes(8, "little"))[0]
    if not math.isfinite(number):
        raise _bad("non-finite floating-point value")
    return number


def _value(buf: bytes, wire: int, value: int, stop: int, typ: str, where: str, depth: int) -> object:
    if typ in SCALARS:
        _expect(wire, _WIRE[typ], where)
        if typ == "string":
            return _text(buf, value, stop)
        if typ == "bytes":
            return base64.b64encode(buf[value:stop]).decode("ascii")
        return _scalar(value, typ)
    _expect(wire, 2, where)
    if typ in SPECIAL:
        return _special(buf, value, stop, typ, where)
    return _message(buf, value, stop, typ, depth + 1)


_ZERO_TIME_SECONDS = -62135596800
"""Go's zero `time.Time` (0001-01-01T00:00:00Z) as Unix seconds; JSON renders it as null."""


def _special(buf: bytes, start: int, end: int, typ: str, where: str) -> object:
    parts: dict[int, tuple[int, int, int]] = {}
    for number, wire, value, stop in _fields(buf, start, end):
        parts[number] = (wire, value, stop)

    def scalar(number: int, kind: str, default: object) -> object:
        if number not in parts:
            return default
        wire, value, stop = parts[number]
        return _value(buf, wire, value, stop, kind, where, 0)

    if typ in ("Time", "MicroTime"):
        seconds, nanos = scalar(1, "int64", 0), scalar(2, "int32", 0)
        if (seconds == 0 and nanos == 0) or (seconds == _ZERO_TIME_SECONDS and nanos == 0):
            return _OMIT
        return _rfc3339(seconds, nanos, micro=typ == "MicroTime")
    if typ == "Quantity":
        return scalar(1, "string", "") or "0"
    if typ == "IntOrString":
        if scalar(1, "int64", 0) == 1:
            return scalar(3, "string", "")
        return scalar(2, "int32", 0)
    # RawExtension {1: raw} and FieldsV1 {1: Raw}: embedded JSON documents.
    if 1 not in parts:
        return _OMIT
    wire, value, stop = parts[1]
    _expect(wire, 2, where)
    if value == stop:
        return _OMIT
    try:
        return json.loads(buf[value:stop])
    except RecursionError as e:
        raise errors.BadRequest(f"the embedded JSON in {where} is nested too deeply") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.BadRequest(f"the embedded JSON in {where} is invalid: {e}") from e


def _rfc3339(seconds: int, nanos: int, *, micro: bool) -> str:
    try:
        t = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    except OverflowError as e:
        raise _bad(f"timestamp {seconds} is out of range") from e
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if micro:
        text += f".{max(0, min(nanos, 999_999_999)) // 1000:06d}"
    return text + "Z"
