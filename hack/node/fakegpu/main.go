// fakegpu: a kubelet device plugin that advertises N fake nvidia.com/gpu devices on the local real node.
//
// It speaks the kubelet device-plugin API (k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1): it serves the
// DevicePlugin gRPC service on a socket in the kubelet's device-plugin directory, registers that socket with
// the kubelet's Registration service, streams its devices from ListAndWatch, and answers Allocate. So the
// kubelet really counts, allocates and frees the devices, and pods see what NVIDIA's plugin would give them.
//
// What it imitates (NVIDIA/k8s-device-plugin, the plugin Kaito and AKS deploy): the resource name
// nvidia.com/gpu; device IDs are GPU UUIDs ("GPU-<uuid>"); with the default "envvar" device-list strategy
// Allocate answers with the container env NVIDIA_VISIBLE_DEVICES=<comma-separated IDs>
// (internal/plugin/server.go, getAllocateResponse / updateResponseForDeviceListEnvVar). No /dev/nvidia* device
// nodes are mounted: there is no GPU here, and the env var alone is what a CUDA-less stand-in can check.
// It re-registers when the kubelet restarts (the kubelet removes every plugin socket when it starts).
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

const resourceName = "nvidia.com/gpu"

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	devices []*pluginapi.Device
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (p *plugin) ListAndWatch(_ *pluginapi.Empty, s grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	if err := s.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices}); err != nil {
		return err
	}
	// The devices never change; keep the stream open until the kubelet closes it.
	<-s.Context().Done()
	return nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		for _, id := range c.DevicesIds {
			if !p.known(id) {
				return nil, fmt.Errorf("unknown device %q", id)
			}
		}
		log.Printf("allocate %s", strings.Join(c.DevicesIds, ","))
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(c.DevicesIds, ",")},
		})
	}
	return resp, nil
}

func (p *plugin) known(id string) bool {
	for _, d := range p.devices {
		if d.ID == id {
			return true
		}
	}
	return false
}

// deviceID is a stable UUID-shaped ID per node and index, like the GPU UUIDs NVIDIA's plugin reports.
func deviceID(node string, i int) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", node, i)))
	return fmt.Sprintf("GPU-%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

func serve(dir, sock string, p *plugin) (*grpc.Server, error) {
	path := filepath.Join(dir, sock)
	_ = os.Remove(path)
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	return srv, nil
}

func register(dir, sock string) error {
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "kubelet.sock"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: sock, ResourceName: resourceName,
	})
	return err
}

func main() {
	count := flag.Int("count", 1, "number of fake GPUs to advertise")
	node := flag.String("node", "", "node name (seeds the device IDs)")
	dir := flag.String("dir", pluginapi.DevicePluginPath, "the kubelet's device-plugin directory")
	flag.Parse()
	if *count < 0 {
		log.Fatalf("--count must be >= 0")
	}
	p := &plugin{}
	for i := 0; i < *count; i++ {
		p.devices = append(p.devices, &pluginapi.Device{ID: deviceID(*node, i), Health: pluginapi.Healthy})
	}
	sock := "fakegpu-nvidia.sock"
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)

	var srv *grpc.Server
	for {
		// (Re)start and (re)register whenever our socket is gone: the kubelet deletes it when it restarts.
		if _, err := os.Stat(filepath.Join(*dir, sock)); srv == nil || err != nil {
			if srv != nil {
				srv.Stop()
			}
			var err error
			if srv, err = serve(*dir, sock, p); err != nil {
				log.Printf("serve: %v", err)
				srv = nil
			} else if err := register(*dir, sock); err != nil {
				log.Printf("register with the kubelet: %v (retrying)", err)
				srv.Stop()
				srv = nil
			} else {
				log.Printf("registered %d %s devices", len(p.devices), resourceName)
			}
		}
		select {
		case <-stop:
			if srv != nil {
				srv.Stop()
			}
			_ = os.Remove(filepath.Join(*dir, sock))
			return
		case <-time.After(time.Second):
		}
	}
}
