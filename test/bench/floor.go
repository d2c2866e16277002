package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/kvcsi/kvcsi/test/harness"
)

// The floor: what one Key Vault GET costs a Go process that does nothing else, through
// the Azure SDK and as a bare net/http request, at the concurrency the provider runs
// (--vault-concurrency). Every mount, kvcsi's or the baseline's, pays this per object;
// it bounds how far reuse alone can cut the CPU of a mount.

const floorEnv = "KVCSI_BENCH_FLOOR"

// Floor is the CPU per GET of a bare client process.
type Floor struct {
	Concurrency int
	SDK, Raw    time.Duration
}

// measureFloor runs this program again as a child process reaching the emulator of e.
func measureFloor(ctx context.Context, e *env, conc int) (Floor, error) {
	self, err := os.Executable()
	if err != nil {
		return Floor{}, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(append(os.Environ(), e.h.Emu.Env()...), fmt.Sprintf("%s=%d", floorEnv, conc))
	out, err := cmd.Output()
	if err != nil {
		return Floor{}, fmt.Errorf("floor child: %w", err)
	}
	f := Floor{Concurrency: conc}
	var sdk, raw int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "sdk %d raw %d", &sdk, &raw); err != nil {
		return Floor{}, fmt.Errorf("floor child said %q: %w", out, err)
	}
	f.SDK, f.Raw = time.Duration(sdk), time.Duration(raw)
	return f, nil
}

// processCPU is this process's CPU time so far (from /proc, 10 ms resolution).
func processCPU() time.Duration {
	s, err := readProc(os.Getpid())
	if err != nil {
		return 0
	}
	return s.CPU
}

// floorChild is the child's main: it prints "sdk <ns> raw <ns>" per GET.
func floorChild(conc int) error {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	hc := &http.Client{Transport: t}
	co := azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}
	cred, err := azidentity.NewClientSecretCredential(harness.Tenant, harness.SPClientID, harness.SPSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		return err
	}
	vault := "https://" + harness.VaultName + ".vault.azure.net/"
	c, err := azsecrets.NewClient(vault, cred, &azsecrets.ClientOptions{ClientOptions: co})
	if err != nil {
		return err
	}
	ctx := context.Background()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
	if err != nil {
		return err
	}
	sdk := func() error {
		_, err := c.GetSecret(ctx, secretName(0), "", nil)
		return err
	}
	raw := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, vault+"secrets/"+secretName(0)+"/?api-version=7.6", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("raw GET: %s", resp.Status)
		}
		return err
	}
	run := func(get func() error) (time.Duration, error) {
		const n = 3000
		if err := get(); err != nil { // warm: challenge, connections
			return 0, err
		}
		var next atomic.Int64
		var failed atomic.Value
		c0 := processCPU()
		var wg sync.WaitGroup
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= n {
					if err := get(); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			return 0, err
		}
		return (processCPU() - c0) / n, nil
	}
	s, err := run(sdk)
	if err != nil {
		return err
	}
	r, err := run(raw)
	if err != nil {
		return err
	}
	fmt.Printf("sdk %d raw %d\n", s.Nanoseconds(), r.Nanoseconds())
	return nil
}
