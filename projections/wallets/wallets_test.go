package wallets

import (
	"testing"

	"github.com/hongbao/hongbao/projections/projector/rowtest"
)

func TestRowsJSON(t *testing.T) { rowtest.CheckJSON[entry](t) }
